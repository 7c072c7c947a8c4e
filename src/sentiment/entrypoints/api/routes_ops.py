"""GET /health, /ping, /ready, /model and /metrics: what operators and orchestrators ask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from sentiment.application.serving import LoadFailure
from sentiment.entrypoints.api import schemas
from sentiment.entrypoints.api.errors import JsonResponse, error_responses
from sentiment.entrypoints.api.state import ApiState, iso_time, model_ref

_OK = b'{"status":"ok"}'


def operations_router(state: ApiState) -> APIRouter:
    router = APIRouter(tags=["operations"])
    served, metrics = state.served, state.metrics

    @router.get(
        "/health",
        summary="Liveness: 200 while the process runs",
        response_model=schemas.HealthResponse,
    )
    async def health() -> Response:
        return Response(_OK, media_type="application/json")

    @router.get(
        "/ping",
        summary="Liveness, under the name `mlflow models serve` uses",
        response_model=schemas.HealthResponse,
    )
    async def ping() -> Response:
        return Response(_OK, media_type="application/json")

    @router.get(
        "/ready",
        summary="Readiness: 200 only while a model is loaded, else 503 with the reason",
        response_model=schemas.ReadyResponse,
        responses=error_responses(503),
    )
    async def ready() -> Response:
        model = served.require()
        return JsonResponse({"status": "ready", "model": model_ref(model)})

    @router.get(
        "/model",
        summary="The served model: version, alias, run, metrics, data digest, load time",
        response_model=schemas.ModelInfoResponse,
        responses=error_responses(503),
    )
    async def model() -> Response:
        status = served.status()
        current = served.require() if status.current is None else status.current
        info = current.info
        return JsonResponse(
            {
                "name": info.name,
                "version": info.version,
                "alias": current.alias,
                "resolved_by": current.resolved_by,
                "requested": {
                    "alias": current.requested.alias,
                    "version": current.requested.version,
                },
                "aliases": list(info.aliases),
                "run_id": info.run_id,
                "model_type": current.classifier.model_type,
                "labels": list(current.classifier.classes),
                "metrics": dict(info.metrics),
                "dataset_digest": info.dataset_digest,
                "registered_at": iso_time(info.created_at) if info.created_at else None,
                "loaded_at": iso_time(current.loaded_at),
                "load_seconds": round(current.load_seconds, 4),
                "last_load_failure": _failure(status.last_failure),
                "reload": _reload(state),
            }
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics (text exposition format)",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return router


def _reload(state: ApiState) -> dict[str, Any] | None:
    if state.watcher is None:
        return None
    watch = state.watcher.status
    return {
        "interval_s": watch.interval_s,
        "checks": watch.checks,
        "last_check_at": iso_time(watch.last_check_at) if watch.last_check_at else None,
        "last_outcome": watch.last_outcome,
        "last_message": watch.last_message,
    }


def _failure(failure: LoadFailure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "message": failure.message,
        "error_type": failure.error_type,
        "attempt": failure.attempt,
        "at": iso_time(failure.at),
        "retry_in_s": failure.retry_in_s,
    }
