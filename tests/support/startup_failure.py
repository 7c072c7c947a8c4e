"""An ASGI app whose startup fails, for a server under test to serve (`ServeOptions.app`):

    ServeOptions(..., app="tests.support.startup_failure:app")

Its lifespan raises before the app is ready, as the real app's would on a setting or a resource
it cannot start with; uvicorn then reports the startup failure and serves nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

APP = "tests.support.startup_failure:app"


class StartupError(RuntimeError):
    pass


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    raise StartupError("this app never starts")
    yield  # pragma: no cover - never reached


app = FastAPI(lifespan=_lifespan)
