"""`create_app(container)`: the FastAPI app, built from the same container as the CLIs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from sentiment.application.backoff import Backoff
from sentiment.application.load_model import LoadModelCommand
from sentiment.application.reload_model import ReloadModel
from sentiment.entrypoints.api import schemas
from sentiment.entrypoints.api.auth import (
    ApiKeyMiddleware,
    SecretSet,
    document_security,
    protected_operations,
)
from sentiment.entrypoints.api.errors import error_responses, install_error_handlers
from sentiment.entrypoints.api.loader import BackgroundLoader
from sentiment.entrypoints.api.metrics import ApiMetrics
from sentiment.entrypoints.api.middleware import BodyGuardMiddleware, RequestContextMiddleware
from sentiment.entrypoints.api.openapi import install_openapi
from sentiment.entrypoints.api.reloader import ModelWatcher
from sentiment.entrypoints.api.routes_admin import ADMIN_RELOAD, admin_router
from sentiment.entrypoints.api.routes_ops import operations_router
from sentiment.entrypoints.api.routes_predict import (
    JSON_ROUTES,
    prediction_batcher,
    prediction_router,
)
from sentiment.entrypoints.api.state import ApiState
from sentiment.entrypoints.api.validation import Limits
from sentiment.entrypoints.container import Container, build_container

DESCRIPTION = """\
Classifies the sentiment of texts with the model version registered in MLflow under the
configured alias (`SENTIMENT_MODEL_ALIAS`, default `champion`; the newest version when no version
carries it), or the version pinned by `SENTIMENT_MODEL_VERSION`. Every prediction names the model
version that made it.

Every error has the same shape (`ErrorResponse`), carries a request id, and never repeats the
submitted text.

When `SENTIMENT_API_KEYS` is set, the prediction routes and `/model` need one of the keys
(`X-API-Key: <key>` or `Authorization: Bearer <key>`): 401 without one, 403 with a wrong one.
"""
# The routes that need an API key when SENTIMENT_API_KEYS is set; /health, /ping, /ready and
# /metrics stay open for orchestrators and scrapers, /admin has its own token.
KEY_PROTECTED_PATHS = (*JSON_ROUTES, "/model")


def _package_version() -> str:
    try:
        return version("sentiment")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


async def _confirm_preloaded(watcher: ModelWatcher, timeout_s: float) -> None:
    """A worker forked with its model already loaded asks the registry once whether the reference
    still points at that version (a worker that replaces a dead one may start hours after the
    preload), and loads the new one if not. When the registry does not answer in time, the
    preloaded model serves and the periodic checks carry on."""
    with contextlib.suppress(Exception):  # the watcher logged and counted it
        await asyncio.wait_for(watcher.check(), max(timeout_s, 0.1))


def create_app(container: Container | None = None) -> FastAPI:
    """The API over `container` (by default one configured from the environment)."""
    container = container if container is not None else build_container()
    config = container.config
    limits = Limits(
        max_batch=config.max_batch(),
        max_text_chars=config.max_text_chars(),
        max_body_bytes=config.max_body_bytes(),
    )
    metrics = ApiMetrics()
    served = container.served_model()
    reference = LoadModelCommand(alias=config.model_alias(), version=config.model_version())
    backoff = Backoff(
        initial_s=config.load_retry_initial_s(),
        max_s=config.load_retry_max_s(),
        multiplier=config.load_retry_multiplier(),
    )
    loader = BackgroundLoader(
        load_model=container.load_model(),
        command=reference,
        served=served,
        backoff=backoff,
        metrics=metrics,
    )
    watcher = ModelWatcher(
        reload=ReloadModel(container.load_model(), served, backoff),
        reference=reference,
        interval_s=config.reload_interval_s(),
        metrics=metrics,
    )
    state = ApiState(
        served=served,
        metrics=metrics,
        limits=limits,
        loader=loader,
        text_column=config.text_column(),
        watcher=watcher,
        batcher=prediction_batcher(
            config.batch_max_size(), config.batch_max_wait_ms(), metrics.observe_microbatch
        ),
    )
    admin_token: str | None = config.admin_token()
    startup_wait_s: float = config.startup_wait_s()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if served.current is None:
            loader.start()
            await loader.wait_first_attempt(startup_wait_s)
        else:  # preloaded before this worker was forked from the server (`preload()`)
            await _confirm_preloaded(watcher, startup_wait_s)
        # Everything imported and loaded so far lives as long as the process: keep it out of the
        # cyclic collector's full passes, which otherwise rescan it every few hundred requests
        # (pauses of hundreds of ms under load: the p99 of /predict).
        gc.freeze()
        watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
            await loader.stop()
            if state.batcher is not None:
                await state.batcher.close()

    app = FastAPI(
        title="sentiment",
        version=_package_version(),
        summary="Sentiment classification served from the MLflow model registry.",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=error_responses(500),
        openapi_tags=[
            {"name": "predict", "description": "Classify texts."},
            {"name": "operations", "description": "Liveness, readiness, model and metrics."},
        ],
    )
    routers = [prediction_router(state), operations_router(state)]
    if admin_token:  # no token, no route: POST /admin/reload is a 404 like any unknown path
        routers.append(admin_router(watcher, admin_token))
    for router in routers:
        app.include_router(router)
    install_error_handlers(app)
    all_routes = [*app.routes, *(r for router in routers for r in router.routes)]
    api_keys = SecretSet(config.api_keys())
    protected = (
        protected_operations(
            ((r.path, getattr(r, "methods", None) or ()) for r in all_routes if hasattr(r, "path")),
            KEY_PROTECTED_PATHS,
        )
        if api_keys
        else set()
    )
    install_openapi(
        app,
        limits,
        [schemas.PredictRequest, schemas.BatchPredictRequest, schemas.InvocationsRequest],
        security=lambda spec: document_security(
            spec, protected, [ADMIN_RELOAD] if admin_token else []
        ),
    )
    routes = {path for route in all_routes if isinstance(path := getattr(route, "path", None), str)}
    app.add_middleware(
        BodyGuardMiddleware,
        max_body_bytes=limits.max_body_bytes,
        json_routes=JSON_ROUTES,
        body_timeout_s=config.body_timeout_s(),
    )
    # Outside the body guard: a client without a valid key never gets its body read.
    app.add_middleware(ApiKeyMiddleware, keys=api_keys, protected=protected)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, routes=routes)
    app.state.sentiment = state
    return app
