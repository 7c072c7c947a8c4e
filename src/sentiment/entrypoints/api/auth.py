"""Who may call what: optional API keys on the prediction routes, a bearer token on /admin.

API keys (`SENTIMENT_API_KEYS`) are off by default. When set, every protected route (the
prediction routes and GET /model) needs one of them, as `X-API-Key: <key>` or
`Authorization: Bearer <key>`: no key is a 401 with `WWW-Authenticate`, a wrong one a 403. The
check runs in `ApiKeyMiddleware`, before the body is read: an unauthenticated client never gets
its body parsed. /health, /ping, /ready and /metrics stay open (see the README for why).

Secrets are compared in constant time: the presented value and every configured secret are
hashed with SHA-256 and compared with `hmac.compare_digest` against each secret, without an early
exit, so the timing shows neither where a wrong key differs, nor its length, nor which key
matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from sentiment.entrypoints.api.errors import error_response

API_KEY_HEADER = "X-API-Key"
API_KEY_SCHEMES = ("ApiKeyHeader", "ApiKeyBearer")
ADMIN_SCHEME = "AdminToken"
MISSING_KEY = (
    f"this route needs an API key: send `{API_KEY_HEADER}: <key>` or `Authorization: Bearer <key>`"
)
WRONG_KEY = "the API key is not valid"
_BEARER = b"bearer "


class SecretSet:
    """Secrets to check presented values against, in constant time."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._digests = tuple(_digest(s.encode("utf-8")) for s in secrets if s)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def matches(self, presented: bytes) -> bool:
        digest = _digest(presented)
        found = False
        for expected in self._digests:  # no early exit: every secret is compared
            found |= hmac.compare_digest(digest, expected)
        return found


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def presented_secret(headers: Iterable[tuple[bytes, bytes]], api_key_header: bool) -> bytes | None:
    """The secret a request presents: `X-API-Key` (when `api_key_header`), else a bearer token."""
    bearer: bytes | None = None
    key: bytes | None = None
    for name, value in headers:
        if name == b"authorization" and value[: len(_BEARER)].lower() == _BEARER:
            bearer = value[len(_BEARER) :].strip()
        elif api_key_header and name == b"x-api-key":
            key = value.strip()
    return key if key else (bearer or None)


class ApiKeyMiddleware:
    """401 without a key, 403 with a wrong one, on the (method, path) pairs in `protected`."""

    def __init__(
        self, app: ASGIApp, keys: SecretSet, protected: Collection[tuple[str, str]]
    ) -> None:
        self.app = app
        self.keys = keys
        self.protected = frozenset(protected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.keys
            and (scope["method"], scope["path"]) in self.protected
        ):
            presented = presented_secret(scope["headers"], api_key_header=True)
            if presented is None:
                response = error_response(
                    scope,
                    401,
                    "unauthorized",
                    MISSING_KEY,
                    headers={"WWW-Authenticate": 'Bearer realm="sentiment"'},
                )
                await response(scope, receive, send)
                return
            if not self.keys.matches(presented):
                response = error_response(scope, 403, "forbidden", WRONG_KEY)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def protected_operations(
    routes: Iterable[tuple[str, Collection[str]]], paths: Collection[str]
) -> set[tuple[str, str]]:
    """(method, path) for every method of the routes at `paths`. Any other method, HEAD
    included (FastAPI's GET routes do not answer it), gets 405 with or without a key."""
    return {(method, path) for path, methods in routes if path in paths for method in methods}


def document_security(
    schema: dict[str, Any],
    protected: Collection[tuple[str, str]],
    admin_paths: Collection[str],
) -> None:
    """Declare the security schemes, and which operations need which, in an OpenAPI document."""
    schemes: dict[str, Any] = {}
    if protected:
        schemes[API_KEY_SCHEMES[0]] = {
            "type": "apiKey",
            "in": "header",
            "name": API_KEY_HEADER,
            "description": "One of SENTIMENT_API_KEYS.",
        }
        schemes[API_KEY_SCHEMES[1]] = {
            "type": "http",
            "scheme": "bearer",
            "description": "One of SENTIMENT_API_KEYS, as a bearer token.",
        }
    if admin_paths:
        schemes[ADMIN_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "SENTIMENT_ADMIN_TOKEN.",
        }
    if not schemes:
        return
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if (method.upper(), path) in protected:
                operation["security"] = [{name: []} for name in API_KEY_SCHEMES]
                responses["401"] = _error("No API key: send one (see WWW-Authenticate).")
                responses["403"] = _error("The API key is not one of SENTIMENT_API_KEYS.")
            elif path in admin_paths:
                operation["security"] = [{ADMIN_SCHEME: []}]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
