"""What the evaluate and registry CLIs share: exit codes, error lines, settings from options."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from sentiment.domain.errors import (
    DatasetError,
    ModelNotFoundError,
    PromotionRefusedError,
    RegistryInputError,
    SentimentError,
)
from sentiment.entrypoints.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3
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
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


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


def settings_with(**overrides: Any) -> Settings:
    """Environment settings with the given options (those not None) laid over them."""
    base = Settings()
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**{**base.model_dump(), **given})
