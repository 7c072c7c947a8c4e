"""The inference API: `uvicorn sentiment.entrypoints.api:app`.

`app` is `create_app()` over a container configured from the environment (`SENTIMENT_*`), built
on first access so that importing `create_app` alone builds nothing.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from sentiment.entrypoints.api.factory import create_app

if TYPE_CHECKING:
    from fastapi import FastAPI

    app: FastAPI

__all__ = ["app", "create_app"]

_app: FastAPI | None = None


def _configure_logging() -> None:
    """Show the API's own log lines (model loads, failures) beside uvicorn's, and keep MLflow's
    download progress bars out of a server's log."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logger = logging.getLogger("sentiment")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            _configure_logging()
            _app = create_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
