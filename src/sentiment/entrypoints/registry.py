"""`python -m sentiment.entrypoints.registry`: the registered model's versions and aliases.

... registry list                          versions, aliases, scores, last alias move
... registry history [--alias champion]    every alias move: when, who, from what, why
... registry promote 3 --reason "..."      make version 3 the champion (kept in its tags)
... registry rollback [--reason "..."]     give @champion back to the previous champion
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from sentiment.application.describe_model import DescribeModelCommand, DescribeModelResult
from sentiment.application.promote_model import PromoteModelCommand
from sentiment.application.rollback_champion import RollbackChampionCommand
from sentiment.domain.errors import SentimentError
from sentiment.domain.model import ModelVersion
from sentiment.domain.model_ref import parse_model_ref
from sentiment.domain.promotion import AliasEvent
from sentiment.entrypoints.cli_support import (
    EXIT_BAD_INPUT,
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_OK,
    actor,
    add_registry_options,
    exit_code,
    exit_with,
    model_name_for,
    one_line,
    settings_with,
)
from sentiment.entrypoints.container import Container, build_container

TOOL = "sentiment-registry"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_registry_options(common)
    parser = argparse.ArgumentParser(
        prog="python -m sentiment.entrypoints.registry",
        description="List the registered model's versions, show its alias history, promote a "
        "version to @champion or roll @champion back. Every move is recorded in the tags of "
        "the version that receives the alias.",
        epilog=EXIT_CODES_HELP,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list", parents=[common], help="versions, newest first, with aliases and scores"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    history = commands.add_parser(
        "history", parents=[common], help="every recorded alias move, oldest first"
    )
    history.add_argument(
        "--alias", help="only this alias (champion or @champion; refused if nothing ever held it)"
    )
    history.add_argument("--json", action="store_true", help="print JSON")
    promote = commands.add_parser(
        "promote", parents=[common], help="make a version the champion, by hand"
    )
    promote.add_argument("version", metavar="VERSION", help="3, @challenger, models:/Name/3...")
    promote.add_argument("--reason", required=True, help="why (kept in the version's tags)")
    promote.add_argument(
        "--allow-new-labels",
        action="store_true",
        help="promote a version that predicts labels the champion does not (refused otherwise: "
        "the API's clients would get labels they do not know)",
    )
    rollback = commands.add_parser(
        "rollback", parents=[common], help="give @champion back to the previous champion"
    )
    rollback.add_argument("--reason", default="", help="why (kept in the version's tags)")
    return parser


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _last_move(version: ModelVersion, history: Sequence[AliasEvent]) -> str:
    moves = [e for e in history if e.version == version.version]
    if not moves:
        return ""
    last = moves[-1]
    return f"{last.action} -> @{last.alias} {_when(last.at)}: {last.reason}"


def render_list(result: DescribeModelResult) -> str:
    if not result.versions:
        return f"{result.model_name}: no registered version"
    rows = [
        [
            v.version,
            " ".join(f"@{a}" for a in v.aliases),
            f"{v.metrics['f1_macro']:.4f}" if "f1_macro" in v.metrics else "-",
            v.run_status or "?",
            _when(v.created_at),
            _last_move(v, result.history),
        ]
        for v in reversed(result.versions)
    ]
    count = len(result.versions)
    head = f"{result.model_name}: {count} version{'s' if count != 1 else ''}"
    table = _table(["version", "aliases", "macro-F1", "run", "registered", "last move"], rows)
    return f"{head}\n{table}"


def render_history(result: DescribeModelResult) -> str:
    if not result.history:
        return f"{result.model_name}: no recorded alias move"
    rows = [
        [
            _when(e.at),
            f"@{e.alias}",
            e.version,
            e.action,
            e.previous or "-",
            f"{e.metrics['f1_macro']:.4f}" if "f1_macro" in e.metrics else "-",
            e.actor or "-",
            e.reason,
        ]
        for e in result.history
    ]
    headers = ["when", "alias", "version", "action", "previous", "macro-F1", "by", "reason"]
    return f"{result.model_name}: alias history\n{_table(headers, rows)}"


def version_json(v: ModelVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "aliases": list(v.aliases),
        "run_id": v.run_id,
        "run_status": v.run_status,
        "created_at": v.created_at,
        "metrics": dict(v.metrics),
        "tags": dict(v.tags),
    }


def event_json(e: AliasEvent) -> dict[str, Any]:
    return {
        "at": e.when,
        "alias": e.alias,
        "version": e.version,
        "action": e.action,
        "previous": e.previous,
        "reason": e.reason,
        "actor": e.actor,
        "metrics": dict(e.metrics),
        "data": e.data,
    }


def _run(
    args: argparse.Namespace,
    container: Container,
    write: Callable[[str], Any],
    warn: Callable[[str], Any],
) -> None:
    if args.command in ("list", "history"):
        alias = getattr(args, "alias", None)
        described = container.describe_model().execute(DescribeModelCommand(alias=alias))
        for version, key in described.unreadable:
            warn(
                f"warning: version {version}: the alias event tag {key!r} cannot be read "
                "(edited by hand?); it is left out of the history"
            )
        if args.json:
            payload: dict[str, Any] = {"model": described.model_name}
            if args.command == "list":
                payload["versions"] = [version_json(v) for v in reversed(described.versions)]
            else:
                payload["history"] = [event_json(e) for e in described.history]
            write(json.dumps(payload, indent=2))
        elif args.command == "list":
            write(render_list(described))
        else:
            write(render_history(described))
    elif args.command == "promote":
        promoted = container.promote_model().execute(
            PromoteModelCommand(
                ref=parse_model_ref(args.version),
                reason=args.reason,
                actor=actor(TOOL),
                allow_new_labels=args.allow_new_labels,
            )
        )
        before = f"version {promoted.previous}" if promoted.previous else "no version"
        write(
            f"@champion: {before} -> version {promoted.version} "
            f"(macro-F1 {promoted.f1:.4f}); reason recorded: {' '.join(args.reason.split())}"
        )
        if promoted.challenger_cleared:
            write(f"@challenger removed: version {promoted.version} is the champion now")
        for warning in promoted.warnings:
            write(f"warning: {warning}")
    else:
        rolled = container.rollback_champion().execute(
            RollbackChampionCommand(reason=args.reason, actor=actor(TOOL))
        )
        write(
            f"@champion: version {rolled.from_version} -> version {rolled.to_version} "
            f"(macro-F1 {rolled.to_f1:.4f}), rolled back to the previous champion; "
            f"reason recorded: {rolled.reason}"
        )
        for warning in rolled.warnings:
            write(f"warning: {warning}")


def main(argv: Sequence[str] | None = None, container: Container | None = None) -> int:
    """Run the CLI. A given `container` (with overridden providers, in tests) is configured
    from the settings instead of a new one."""
    args = build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        model_name = args.model_name
        if args.command == "promote":  # a models:/Name/3 reference picks the registered model
            model_name = model_name_for(parse_model_ref(args.version), model_name)
        settings = settings_with(
            tracking_uri=args.tracking_uri, registry=args.registry, model_name=model_name
        )
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
    try:
        _run(
            args,
            container,
            lambda text: out.write(text + "\n"),
            lambda text: err.write(text + "\n"),
        )
    except SentimentError as exc:
        err.write(f"error: {one_line(exc)}\n")
        return exit_code(exc)
    except BrokenPipeError:  # the reader of the output went away: `exit_with` ends quietly
        raise
    except Exception:  # noqa: BLE001 - the last line of defence prints the trace
        err.write("unexpected error:\n")
        traceback.print_exc(file=err)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    exit_with(main)
