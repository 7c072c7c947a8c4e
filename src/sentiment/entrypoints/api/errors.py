"""The one error shape, and the one place where errors become status codes.

Every error response is `{"error": {"code", "message", "request_id", "details": [...]}}`, from
the middleware (413, 415, 500), the routes (400, 422, 503) and the framework (404, 405). Messages
name fields and limits, never the submitted text; nothing ever carries a stack trace.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from sentiment.domain.errors import (
    ClassifierError,
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    RegistryUnavailableError,
    SentimentError,
)
from sentiment.entrypoints.api.schemas import ErrorResponse

REQUEST_ID_KEY = "sentiment.request_id"
logger = logging.getLogger("sentiment.api")

# Domain errors -> (status, code, whether the message may be shown). The first match along the
# exception's class hierarchy wins; anything unlisted is a 500 with a generic message.
DOMAIN_ERRORS: Mapping[type[SentimentError], tuple[int, str, bool]] = {
    InvalidInputError: (422, "invalid_input", True),
    ModelNotReadyError: (503, "model_not_ready", True),
    RegistryUnavailableError: (503, "registry_unavailable", True),
    ModelLoadError: (503, "model_load_failed", True),
    ModelNotFoundError: (404, "model_not_found", True),
    ClassifierError: (500, "prediction_failed", False),
    SentimentError: (500, "internal_error", False),
}
HTTP_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}
INTERNAL_MESSAGE = "internal error; the server logged it under this request id"
MAX_PROBLEMS = 20  # a 422 lists at most this many problems in `details`; its message counts all


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem with a request: where (`field`, None for the whole body), what, and why."""

    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message}


class ApiError(Exception):
    """A request the API itself refuses (as opposed to a domain error)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)
        self.headers = dict(headers or {})


class JsonResponse(Response):
    """A JSON response rendered with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(
    scope: Scope,
    status: int,
    code: str,
    message: str,
    details: Iterable[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "request_id": scope.get(REQUEST_ID_KEY, ""),
            "details": [d.as_dict() for d in details],
        }
    }
    return JsonResponse(body, status_code=status, headers=dict(headers or {}))


def domain_status(exc: SentimentError) -> tuple[int, str, str]:
    """(status, code, message) for a domain error."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_ERRORS:
            status, code, public = DOMAIN_ERRORS[cls]
            return status, code, (str(exc) if public else INTERNAL_MESSAGE)
    return 500, "internal_error", INTERNAL_MESSAGE


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")  # \Z: `$` would pass "name\n"


def key_name(key: str) -> str:
    """A client's JSON key as it may be echoed: itself when it looks like a name, else `<key>`."""
    return key if _KEY.match(key) else "<key>"


def field_path(loc: Iterable[int | str]) -> str | None:
    """`("body", "texts", 3)` -> `texts[3]`. Keys that do not look like names are not echoed."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not path and part in ("body", "query", "path", "header"):
            continue
        else:
            path += f".{key_name(part)}" if path else key_name(part)
    return path or None


def validation_problems(errors: Iterable[Mapping[str, Any]]) -> list[Problem]:
    """Pydantic errors as Problems, without the `input` and `ctx` that could echo the text."""
    return [
        Problem(field_path(e.get("loc", ())), str(e.get("type", "invalid")), str(e.get("msg", "")))
        for e in errors
    ]


def validation_error(problems: Sequence[Problem], total: int | None = None) -> ApiError:
    """422 naming the first problem; `details` lists the first MAX_PROBLEMS of `problems`, which
    are the first ones of `total` problems (default: `problems` are all of them)."""
    if not problems:
        return ApiError(422, "validation_error", "invalid request")
    first = problems[0]
    message = f"invalid request: {first.field + ': ' if first.field else ''}{first.message}"
    listed = problems[:MAX_PROBLEMS]
    total = max(total or 0, len(problems))
    if total > len(listed):
        message += f" (and {total - 1} more problem(s); details lists the first {len(listed)})"
    elif total > 1:
        message += f" (and {total - 1} more problem(s); see details)"
    return ApiError(422, "validation_error", message, listed)


def from_pydantic(exc: ValidationError) -> ApiError:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return validation_error(validation_problems(errors))


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the framework sees into the one shape."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(
            request.scope, exc.status, exc.code, exc.message, exc.details, exc.headers
        )

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SentimentError)
        status, code, message = domain_status(exc)
        if status == 500:
            logger.error(
                "%s on %s %s (request id %s)",
                code,
                request.method,
                request.url.path,
                request.scope.get(REQUEST_ID_KEY, ""),
                exc_info=exc,
                extra={"request_id": request.scope.get(REQUEST_ID_KEY, "")},
            )
        headers: dict[str, str] = {}
        if status == 503:
            retry = getattr(exc, "retry_after_s", None)
            headers["Retry-After"] = str(max(1, math.ceil(retry))) if retry else "1"
        return error_response(request.scope, status, code, message, headers=headers)

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = validation_problems(exc.errors())
        return on_error(request, validation_error(problems))

    async def on_pydantic(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        return on_error(request, from_pydantic(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        code = HTTP_CODES.get(status, "http_error")
        message = _http_message(status)
        return error_response(request.scope, status, code, message, headers=exc.headers)

    def on_error(request: Request, exc: ApiError) -> Response:
        return error_response(
            request.scope, exc.status, exc.code, exc.message, exc.details, exc.headers
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(SentimentError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(ValidationError, on_pydantic)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _http_message(status: int) -> str:
    if status == 404:
        return "no such route; the API is described at /docs and /openapi.json"
    if status == 405:
        return "method not allowed on this route; see the Allow header"
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "request failed"


ERROR_DESCRIPTIONS: Mapping[int, str] = {
    400: "The body is not valid UTF-8 or not valid JSON.",
    401: "Missing or wrong `Authorization: Bearer <SENTIMENT_ADMIN_TOKEN>`.",
    404: "No such route, or no such model version.",
    405: "Method not allowed.",
    408: "The body did not arrive within SENTIMENT_BODY_TIMEOUT_S; the connection is closed.",
    413: "The body is larger than SENTIMENT_MAX_BODY_BYTES; it was not read.",
    415: "The Content-Type is missing or not `application/json` (UTF-8).",
    422: "The JSON does not match the schema, or a text is empty, whitespace-only, too long, "
    "or there are too many texts.",
    500: "An internal error; the response carries only a request id to quote.",
    503: "No model is loaded yet (registry unreachable or empty, or loading); see Retry-After.",
}


def error_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting the error shape for these statuses; `described`
    replaces the shared description of a status where a route means something else by it."""
    own = described or {}
    return {
        status: {"model": ErrorResponse, "description": own.get(status, ERROR_DESCRIPTIONS[status])}
        for status in statuses
    }
