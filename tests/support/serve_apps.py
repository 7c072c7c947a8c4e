"""Tiny ASGI apps for a server under test to serve (`ServeOptions.app` takes their import string).

- `SERVES`: answers `GET /` with 200 and `{}`.
- `NEVER_STARTS`: its lifespan raises before the app is ready, as the real app's would on a
  setting or a resource it cannot start with; uvicorn reports the failed startup and serves nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

SERVES = "tests.support.serve_apps:serves"
NEVER_STARTS = "tests.support.serve_apps:never_starts"


class StartupError(RuntimeError):
    pass


@asynccontextmanager
async def _failing_lifespan(app: FastAPI) -> AsyncIterator[None]:
    raise StartupError("this app never starts")
    yield  # pragma: no cover - never reached


never_starts = FastAPI(lifespan=_failing_lifespan)
serves = FastAPI()


@serves.get("/")
def _root() -> dict[str, str]:
    return {}
