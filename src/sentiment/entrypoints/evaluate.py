"""`python -m sentiment.entrypoints.evaluate`: score a registered model on a labelled CSV.

python -m sentiment.entrypoints.evaluate --data reviews.csv                # @champion
python -m sentiment.entrypoints.evaluate --data reviews.csv --model 3 --log
python -m sentiment.entrypoints.evaluate --data reviews.csv --model models:/Name@challenger
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sentiment.application.evaluate_model import EvaluateModelCommand, EvaluateModelResult
from sentiment.domain.errors import SentimentError
from sentiment.domain.model_ref import ModelRef, parse_model_ref
from sentiment.entrypoints.cli_support import (
    EXIT_BAD_INPUT,
    EXIT_CODES_HELP,
    EXIT_OK,
    SilentProgress,
    StageProgress,
    add_registry_options,
    exit_code,
    exit_with,
    format_rows,
    model_name_for,
    one_line,
    per_class_rows,
    quiet_libraries,
    run_guarded,
    settings_with,
    write_json,
)
from sentiment.entrypoints.container import Container, build_container
from sentiment.entrypoints.settings import Settings

STAGES = ("model", "data", "predict", "log")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment.entrypoints.evaluate",
        description="Score a registered model version on labelled data and print the metrics.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument(
        "--data",
        required=True,
        help="labelled CSV file, or 'imdb-test' (the official IMDB test half) or 'imdb'",
    )
    parser.add_argument(
        "--model",
        default="@champion",
        metavar="REF",
        help="a version (3), an alias (@champion), latest, or models:/Name/3, "
        "models:/Name@alias (default: @champion)",
    )
    parser.add_argument("--text-column", help="column with the text (default: text)")
    parser.add_argument("--label-column", help="column with the label (default: label)")
    parser.add_argument(
        "--output-json", type=Path, metavar="FILE", help="write the metrics as JSON"
    )
    parser.add_argument(
        "--log",
        action="store_true",
        help="log an evaluation run linked to the version (run tagged with the version, "
        "version tagged with the run)",
    )
    parser.add_argument("--run-name", help="name of the evaluation run (with --log)")
    add_registry_options(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress, no table")
    return parser


def summary(result: EvaluateModelResult) -> str:
    m = result.evaluation
    aliases = f" (@{', @'.join(result.aliases)})" if result.aliases else ""
    rows = [
        ("model", f"{result.model_name} version {result.model_version}{aliases}"),
        ("data", f"{result.dataset_name}, digest {result.dataset_digest}"),
        ("rows", f"{result.rows} ({result.dropped_rows} dropped)"),
        ("accuracy", f"{m.accuracy:.4f}"),
        ("macro-F1", f"{m.macro_f1:.4f}"),
    ]
    rows.extend(per_class_rows(m.per_class))
    width = max(len(str(label)) for label in m.labels)
    header = " " * (width + 2) + "  ".join(f"{label:>{width}}" for label in m.labels)
    rows.append(("confusion", f"true \\ predicted\n{' ' * 12}{header}"))
    for label, row in zip(m.labels, m.confusion_matrix, strict=True):
        cells = "  ".join(f"{count:>{width}}" for count in row)
        rows.append(("", f"{label:>{width}}  {cells}"))
    if result.evaluation_run_id:
        rows.append(("eval run", result.evaluation_run_id))
    rows.append(("duration", f"{result.duration_s:.1f} s"))
    return format_rows(rows)


def result_json(result: EvaluateModelResult) -> dict[str, Any]:
    return {
        "model_name": result.model_name,
        "model_version": result.model_version,
        "aliases": list(result.aliases),
        "training_run_id": result.training_run_id,
        "evaluation_run_id": result.evaluation_run_id,
        "dataset": {
            "name": result.dataset_name,
            "digest": result.dataset_digest,
            "rows": result.rows,
            "dropped_rows": result.dropped_rows,
        },
        "metrics": result.evaluation.flat(),
        **{k: v for k, v in result.evaluation.to_dict().items() if k != "f1_macro"},
        "duration_s": round(result.duration_s, 3),
    }


def _settings(args: argparse.Namespace, ref: ModelRef) -> Settings:
    return settings_with(
        data=args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        tracking_uri=args.tracking_uri,
        registry=args.registry,
        model_name=model_name_for(ref, args.model_name),
    )


def main(argv: Sequence[str] | None = None, container: Container | None = None) -> int:
    """Run the CLI. A given `container` (with overridden providers, in tests) is configured
    from the settings instead of a new one."""
    args = build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        ref = parse_model_ref(args.model)
        settings = _settings(args, ref)
    except ValidationError as exc:
        err.write(f"error: invalid setting: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    except SentimentError as exc:
        err.write(f"error: {one_line(exc)}\n")
        return exit_code(exc)
    if container is None:
        container = build_container(settings, create_store=False)
    else:  # the caller's providers, this command line's settings
        container.config.from_dict(settings.model_dump(mode="json"))
    if args.quiet:
        quiet_libraries()
    progress = SilentProgress() if args.quiet else StageProgress(err)
    use_case = container.evaluate_model(progress=progress)
    command = EvaluateModelCommand(ref=ref, log=args.log, run_name=args.run_name)
    result = run_guarded(lambda: use_case.execute(command), err, progress=progress)
    if isinstance(result, int):
        return result
    if args.output_json:
        write_json(args.output_json, result_json(result))
    if not args.quiet:
        out.write(summary(result) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    exit_with(main)
