"""What the CLIs share: exit codes, error lines, progress, summary rows, guarded execution."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

from pydantic import ValidationError

from sentiment.application.progress import ProgressObserver
from sentiment.domain.errors import (
    DatasetError,
    ModelNotFoundError,
    PromotionRefusedError,
    RegistryInputError,
    SentimentError,
)
from sentiment.domain.metrics import ClassMetrics
from sentiment.domain.model_ref import ModelRef
from sentiment.entrypoints.settings import Settings

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader went away
EXIT_CODES_HELP = (
    "exit codes: 0 done; 1 failed (registry unreachable, artifact unloadable...); "
    "2 bad input (data, reference, or a version/alias that does not exist); "
    "3 refused (the move is not allowed, or there is nothing to roll back)"
)


def exit_code(exc: SentimentError) -> int:
    if isinstance(exc, PromotionRefusedError):
        return EXIT_REFUSED
    if isinstance(exc, DatasetError | RegistryInputError | ModelNotFoundError):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def one_line(exc: BaseException) -> str:
    """An error as one line. A refused setting is named with its environment variable, without
    the value it was given (it may be a secret) and without pydantic's links."""
    if isinstance(exc, ValidationError):
        return "; ".join(_problems(exc)) or type(exc).__name__
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = error["loc"]
        where = ".".join(str(part) for part in loc)
        if exc.title == Settings.__name__ and loc and loc[0] in Settings.model_fields:
            where += f" (SENTIMENT_{str(loc[0]).upper()})"
        message = " ".join(error["msg"].removeprefix("Value error, ").split())
        problems.append(f"{where}: {message}" if where else message)
    return problems


def actor(tool: str) -> str:
    """Who is acting, for the record: the OS user and the tool."""
    try:
        return f"{getpass.getuser()} ({tool})"
    except (KeyError, OSError):
        return tool


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri", help="MLflow URI (default: $SENTIMENT_TRACKING_URI or sqlite:///...)"
    )
    parser.add_argument("--registry", choices=("mlflow", "memory"), help="registry adapter")
    parser.add_argument("--model-name", help="registered model (default: $SENTIMENT_MODEL_NAME)")


def model_name_for(ref: ModelRef, option: str | None) -> str | None:
    """The registered model a command works on: the one a `models:/Name/...` reference names,
    else `--model-name` (None: the settings' own). Raises RegistryInputError when both are
    given and differ."""
    if ref.model_name is not None and option is not None and option != ref.model_name:
        raise RegistryInputError(
            f"{ref} names the model {ref.model_name!r}, but --model-name says {option!r}"
        )
    return ref.model_name or option


def settings_with(**overrides: Any) -> Settings:
    """Environment settings with the given options (those not None) laid over them."""
    base = Settings()
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**{**base.model_dump(), **given})


class StageProgress:
    """Prints one line per stage: `[3/7] fit       ...   12.3 s  detail` (numbered when the
    stages are known in advance)."""

    def __init__(self, stream: TextIO, stages: Sequence[str] = ()) -> None:
        self._stream = stream
        self._stages = tuple(stages)
        self.line_open = False
        """A stage's line is started and not finished (an error message must begin anew)."""

    def stage_started(self, stage: str) -> None:
        self.line_open = True
        if stage in self._stages:
            number = self._stages.index(stage) + 1
            self._stream.write(f"[{number}/{len(self._stages)}] {stage:<9} ...")
        else:
            self._stream.write(f"{stage:<8} ...")
        self._stream.flush()

    def stage_finished(self, stage: str, seconds: float, detail: str = "") -> None:
        self._stream.write(f" {seconds:6.1f} s  {detail}\n")
        self._stream.flush()
        self.line_open = False


def quiet_libraries() -> None:
    """`--quiet`: MLflow's INFO lines (a new store's "Creating initial MLflow database tables")
    are not printed either, nor the "View run ... at: http://..." links it writes on stdout when
    a run on a server ends; its warnings still are. MLflow sets its loggers' level when it is
    imported, from MLFLOW_LOGGING_LEVEL: an operator who set that keeps it."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if "MLFLOW_LOGGING_LEVEL" not in os.environ:
        os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"
        logging.getLogger("mlflow").setLevel(logging.WARNING)


class SilentProgress:
    def stage_started(self, stage: str) -> None:
        return None

    def stage_finished(self, stage: str, seconds: float, detail: str = "") -> None:
        return None


def per_class_rows(per_class: Mapping[str, ClassMetrics]) -> list[tuple[str, str]]:
    """Summary rows: precision, recall, F1 and support of each class."""
    return [
        (
            f"  {label}",
            f"precision {m.precision:.4f}  recall {m.recall:.4f}  "
            f"F1 {m.f1:.4f}  support {m.support}",
        )
        for label, m in per_class.items()
    ]


def format_rows(rows: Sequence[tuple[str, str]]) -> str:
    """`key  value` lines with the keys padded to one width."""
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def run_guarded(
    call: Callable[[], T],
    err: TextIO,
    exit_for: Callable[[SentimentError], int] = exit_code,
    unexpected: str = "unexpected error",
    progress: ProgressObserver | None = None,
) -> T | int:
    """Run a use case: its result, or the exit code after one clear line on `err`
    (the full trace only for an error that is not a SentimentError). The line starts on a line
    of its own when `progress` (a StageProgress) left one unfinished."""

    def lead() -> str:
        return "\n" if isinstance(progress, StageProgress) and progress.line_open else ""

    try:
        return call()
    except SentimentError as exc:
        err.write(f"{lead()}error: {one_line(exc)}\n")
        return exit_for(exc)
    except KeyboardInterrupt:
        err.write(f"{lead()}interrupted\n")
        return 130
    except BrokenPipeError:  # the reader of the output went away: `exit_with` ends quietly
        raise
    except Exception:  # noqa: BLE001 - the last line of defence prints the trace
        err.write(f"{lead()}{unexpected}:\n")
        traceback.print_exc(file=err)
        return EXIT_FAILED


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def exit_with(main: Callable[[], int]) -> NoReturn:
    """`sys.exit(main())` for a CLI run as a script, without a traceback when the reader of its
    output went away (`registry history | head -1`): exit EXIT_BROKEN_PIPE, as other tools do.
    What the command did before (a move, a run) is done; only its output was cut short."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout once more at exit: pointed at /dev/null, that says nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    sys.exit(code)
