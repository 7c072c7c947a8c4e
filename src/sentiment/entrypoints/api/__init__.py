"""The inference API: `uvicorn sentiment.entrypoints.api:app`.

`app` is `create_app()` over a container configured from the environment (`SENTIMENT_*`), built
on first access so that importing `create_app` alone builds nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sentiment.entrypoints.api.factory import create_app
from sentiment.entrypoints.api.logs import configure_logging

if TYPE_CHECKING:
    from fastapi import FastAPI

    app: FastAPI

__all__ = ["app", "create_app"]

_app: FastAPI | None = None


def _configure_logging() -> None:
    """JSON log lines for the API and uvicorn (see `logs.py`), and no MLflow download progress
    bars in a server's log."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    configure_logging()


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            _configure_logging()
            _app = create_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
