"""POST /admin/reload: force a live-reload check now. Only exists when SENTIMENT_ADMIN_TOKEN is set;
the caller sends `Authorization: Bearer <token>`, compared in constant time (`auth.SecretSet`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from sentiment.application.reload_model import LOAD_FAILED
from sentiment.domain.errors import ModelLoadError
from sentiment.entrypoints.api import schemas
from sentiment.entrypoints.api.auth import SecretSet, presented_secret
from sentiment.entrypoints.api.errors import ApiError, JsonResponse, error_responses
from sentiment.entrypoints.api.reloader import ModelWatcher
from sentiment.entrypoints.api.state import iso_time

ADMIN_RELOAD = "/admin/reload"


def admin_router(watcher: ModelWatcher, token: str) -> APIRouter:
    router = APIRouter(tags=["operations"])
    expected = SecretSet([token])

    def authorize(request: Request) -> None:
        given = presented_secret(request.scope["headers"], api_key_header=False)
        # Constant time: SHA-256 digests compared with hmac.compare_digest.
        if given is None or not expected.matches(given):
            raise ApiError(
                401,
                "unauthorized",
                "this route needs the header `Authorization: Bearer <SENTIMENT_ADMIN_TOKEN>`",
                headers={"WWW-Authenticate": 'Bearer realm="sentiment-admin"'},
            )

    @router.post(
        ADMIN_RELOAD,
        summary="Check the registry now; load, smoke-test and swap in a new version if the "
        "reference moved",
        response_model=schemas.ReloadResponse,
        responses=error_responses(
            401,
            404,
            503,
            described={
                404: "The pinned SENTIMENT_MODEL_VERSION does not exist (`model_not_found`).",
                503: "The registry did not answer (`registry_unavailable`), or the new version "
                "failed to load or its smoke test (`model_load_failed`); the served version "
                "stays. See Retry-After.",
            },
        ),
    )
    async def reload(request: Request) -> Response:
        authorize(request)
        result = await watcher.check(force=True)
        if result.outcome == LOAD_FAILED:
            # The one error handler makes it a 503 `model_load_failed`; the old model serves on.
            raise ModelLoadError(result.message)
        status = watcher.status
        return JsonResponse(
            {
                "outcome": result.outcome,
                "message": result.message,
                "serving": result.serving,
                "previous": result.previous,
                "candidate": result.candidate,
                "checked_at": iso_time(status.last_check_at) if status.last_check_at else None,
            }
        )

    return router
