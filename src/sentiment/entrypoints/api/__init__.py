"""The inference API: `uvicorn sentiment.entrypoints.api:app`.

`app` is `create_app()` over a container configured from the environment (`SENTIMENT_*`), built
on first access so that importing `create_app` alone builds nothing. Building it also prepares the
server process (`prepare_process`): JSON logs, and a clean exit after a graceful SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from sentiment.entrypoints.api.factory import create_app
from sentiment.entrypoints.api.logs import configure_logging

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sentiment.entrypoints.api.state import ApiState

    app: FastAPI

__all__ = ["app", "create_app", "preload", "prepare_process"]

_app: FastAPI | None = None


def prepare_process() -> None:
    """Set up a server process before it serves: JSON log lines for the API and uvicorn (see
    `logs.py`), no MLflow download progress bars in the log, and exit status 0 after a SIGTERM.

    On SIGTERM uvicorn stops accepting, lets the requests in flight finish, runs the shutdown,
    then raises the signal again with the handler it found installed; the default one would end
    the process with status 143 (-15). This handler turns that last step into a clean exit 0, so
    that a supervisor sees a graceful stop as a success.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    configure_logging()
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _exit_cleanly)


def preload() -> bool:
    """Build `app` and load its model in this process, then freeze what was built so far out of
    the cyclic garbage collector. A server that forks its workers afterwards (`serve --workers N`)
    imports and loads once, and its workers share those pages copy-on-write. False when the load
    failed: each worker then loads on its own, as without a preload."""
    import gc

    application: FastAPI = __getattr__("app")
    state: ApiState = application.state.sentiment
    loaded = state.loader.load_now()
    gc.freeze()
    return loaded is not None


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            prepare_process()
            _app = create_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
