"""`python -m sentiment.entrypoints.train`: train, evaluate, log to MLflow, register and gate.

The evaluation data is a held-out split of `--data` (`--test-size`), or with `--eval-data` a
separate labelled file (the official IMDB test half, say) while the model trains on all of
`--data`.

After registration the quality gate scores the new version and the current @champion on the same
held-out split: the new version becomes @champion only when its macro-F1 reaches the champion's
plus SENTIMENT_PROMOTION_MARGIN and SENTIMENT_PROMOTION_FLOOR; otherwise it gets @challenger, and
the summary says why. Either way training succeeded (exit 0).

Exit codes: 0 done; 2 bad input (nothing registered); 3 the gate's move was refused because
@champion moved meanwhile (the version is registered, without an alias); 1 anything else (the run
is marked failed).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sentiment.application.train_model import TrainModelCommand, TrainModelResult
from sentiment.domain.errors import (
    ClassifierError,
    DatasetError,
    PromotionRefusedError,
    SentimentError,
)
from sentiment.entrypoints.cli_support import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    SilentProgress,
    StageProgress,
    actor,
    exit_with,
    format_rows,
    one_line,
    per_class_rows,
    quiet_libraries,
    run_guarded,
    write_json,
)
from sentiment.entrypoints.container import build_container
from sentiment.entrypoints.settings import Settings

STAGES = ("load", "split", "fit", "evaluate", "log", "register", "gate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment.entrypoints.train",
        description="Train a sentiment classifier, evaluate it on a held-out split, log the run "
        "to MLflow and register the model. Options override SENTIMENT_* environment variables.",
        epilog="exit codes: 0 done (promoted or not); 2 bad input or setting (data, columns, "
        "classes, model type, hyperparameter), nothing registered; 3 the gate's move refused "
        "(@champion moved meanwhile: the version is registered without an alias); "
        "1 anything else",
    )
    parser.add_argument(
        "--data",
        help="CSV file, or 'imdb' to download the IMDB train half "
        "(default: $SENTIMENT_DATA or imdb)",
    )
    parser.add_argument(
        "--text-column", help="column with the text (default: $SENTIMENT_TEXT_COLUMN or text)"
    )
    parser.add_argument(
        "--label-column", help="column with the label (default: $SENTIMENT_LABEL_COLUMN or label)"
    )
    parser.add_argument(
        "--eval-data",
        metavar="DATA",
        help="evaluate (and gate) on this labelled CSV, or 'imdb-test' for the official IMDB test "
        "half, instead of a held-out split: the model trains on every row of --data "
        "(default: $SENTIMENT_EVAL_DATA, else a split)",
    )
    parser.add_argument(
        "--test-size",
        type=float,
        help="held-out share when there is no --eval-data (default: $SENTIMENT_TEST_SIZE or 0.2)",
    )
    parser.add_argument(
        "--random-state", type=int, help="seed (default: $SENTIMENT_RANDOM_STATE or 42)"
    )
    parser.add_argument(
        "--model-type",
        help="nblr-lm (the default, unless $SENTIMENT_MODEL_TYPE; most accurate: nblr with class "
        "n-gram language models), nblr (faster), nblr-ctx (nblr with negation marking and "
        "sentence scores) or tfidf-lr (baseline)",
    )
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a hyperparameter over the model type's defaults (and $SENTIMENT_HYPERPARAMETERS); "
        "repeat for more",
    )
    parser.add_argument(
        "--tracking-uri",
        help="MLflow URI (default: $SENTIMENT_TRACKING_URI or sqlite:///mlruns/mlflow.db)",
    )
    parser.add_argument(
        "--registry",
        choices=("mlflow", "memory"),
        help="registry adapter (default: $SENTIMENT_REGISTRY or mlflow)",
    )
    parser.add_argument("--run-name", help="name of the MLflow run")
    parser.add_argument(
        "--promotion-floor",
        type=float,
        help="lowest macro-F1 a champion may have (default: $SENTIMENT_PROMOTION_FLOOR or 0.80)",
    )
    parser.add_argument(
        "--promotion-margin",
        type=float,
        help="how much the new version must beat the champion's macro-F1 by "
        "(default: $SENTIMENT_PROMOTION_MARGIN or 0.0)",
    )
    parser.add_argument(
        "--output-json",
        type=Path,
        metavar="FILE",
        help="write run id, version, metrics, params and duration as JSON",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress, no table")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment settings with the command line's options laid over them."""
    from sentiment.adapters.hyperparameters import parse_hyperparameters

    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "data": args.data,
            "eval_data": args.eval_data,
            "text_column": args.text_column,
            "label_column": args.label_column,
            "test_size": args.test_size,
            "random_state": args.random_state,
            "model_type": args.model_type,
            "tracking_uri": args.tracking_uri,
            "registry": args.registry,
            "promotion_floor": args.promotion_floor,
            "promotion_margin": args.promotion_margin,
        }.items()
        if value is not None
    }
    base = Settings()
    if args.param:
        overrides["hyperparameters"] = {**base.hyperparameters, **parse_hyperparameters(args.param)}
    return Settings(**{**base.model_dump(), **overrides})


def summary(result: TrainModelResult, settings: Settings) -> str:
    rows = [
        (
            "model",
            f"{result.model_name} version {result.model_version}"
            + (f" (@{', @'.join(result.aliases)})" if result.aliases else ""),
        ),
        ("run id", result.run_id),
        ("model type", str(result.params.get("model_type", ""))),
        (
            "rows",
            f"{result.rows} ({result.dropped_rows} dropped), "
            f"{result.train_rows} train / {result.test_rows} test"
            + (f" ({result.params['eval_data']})" if "eval_data" in result.params else ""),
        ),
        ("accuracy", f"{result.evaluation.accuracy:.4f}"),
        ("macro-F1", f"{result.evaluation.macro_f1:.4f}"),
    ]
    rows.extend(per_class_rows(result.evaluation.per_class))
    if result.promotion is not None:
        gate = result.promotion
        verdict = "promoted to @champion" if gate.promoted else "kept as @challenger"
        rows.append(("promotion", f"{verdict}: {gate.reason}"))
    rows.append(("duration", f"{result.duration_s:.1f} s"))
    if settings.registry == "mlflow":
        uri = settings.tracking_uri
        if uri.startswith(("http://", "https://")):
            rows.append(("MLflow UI", uri))
        else:
            rows.append(
                (
                    "MLflow UI",
                    f"mlflow ui --backend-store-uri {uri} "
                    f"--default-artifact-root {settings.artifact_root}",
                )
            )
    return format_rows(rows)


def result_json(result: TrainModelResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "model_name": result.model_name,
        "model_version": result.model_version,
        "aliases": list(result.aliases),
        "metrics": dict(result.metrics),
        "params": dict(result.params),
        "confusion_matrix": result.evaluation.to_dict()["confusion_matrix"],
        "dropped_rows": result.dropped_rows,
        "duration_s": round(result.duration_s, 3),
        "promotion": promotion_json(result),
    }


def promotion_json(result: TrainModelResult) -> dict[str, Any] | None:
    gate = result.promotion
    if gate is None:
        return None
    return {
        "promoted": gate.promoted,
        "alias": gate.alias,
        "reason": gate.reason,
        "candidate_f1_macro": gate.candidate_f1,
        "champion_version": gate.champion_version,
        "champion_f1_macro": gate.champion_f1,
        "margin": gate.margin,
        "floor": gate.floor,
        "holdout_rows": gate.holdout_rows,
    }


def _exit_for(exc: SentimentError) -> int:
    """Bad data or a bad setting: 2, nothing registered. The gate's alias move refused (another
    move came first): 3, as `registry` says it; the version is registered. Anything else: 1."""
    if isinstance(exc, PromotionRefusedError):
        return EXIT_REFUSED
    return EXIT_BAD_INPUT if isinstance(exc, DatasetError | ClassifierError) else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        settings = settings_from(args)
    except (ValidationError, SentimentError) as exc:
        err.write(f"error: invalid setting: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    if args.test_size is not None and settings.eval_data:
        err.write("error: invalid setting: --test-size with --eval-data: there is no split\n")
        return EXIT_BAD_INPUT
    container = build_container(settings)
    if args.quiet:
        quiet_libraries()
    progress = SilentProgress() if args.quiet else StageProgress(err, STAGES)
    use_case = container.train_model(progress=progress)
    command = TrainModelCommand(
        model_type=settings.model_type,
        hyperparameters=settings.hyperparameters,
        test_size=settings.test_size,
        random_state=settings.random_state,
        run_name=args.run_name,
        actor=actor("sentiment-train"),
    )
    started = time.perf_counter()
    result = run_guarded(
        lambda: use_case.execute(command),
        err,
        exit_for=_exit_for,
        unexpected="unexpected error (the MLflow run, if any, is marked FAILED)",
        progress=progress,
    )
    if isinstance(result, int):
        return result
    if args.output_json:
        payload = result_json(result)
        payload["duration_s"] = round(time.perf_counter() - started, 3)
        write_json(args.output_json, payload)
    if not args.quiet:
        out.write(summary(result, settings) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    exit_with(main)
