"""Pure ASGI middleware: request ids and metrics around everything; a guard in front of bodies.

`RequestContextMiddleware` gives each request an id (a sane incoming `X-Request-ID`, or a new
one), returns it in the `X-Request-ID` header, records the request in the metrics and in one
structured access log line (see `logs.py`: lengths, never texts), and turns any unhandled
exception into a 500 in the one error shape (logged here, never sent to the client).

`BodyGuardMiddleware` protects the routes that take a JSON body: a declared `Content-Length` over
the limit gets 413 before a byte is read; a missing or wrong `Content-Type` gets 415; a body that
streams past the limit gets 413 as soon as it does, so no more than the limit is ever buffered;
a body that takes longer than `body_timeout_s` to arrive (slow-loris) gets 408, and the connection
is closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentiment.entrypoints.api.errors import INTERNAL_MESSAGE, REQUEST_ID_KEY, error_response
from sentiment.entrypoints.api.logs import ACCESS_LOGGER, LOG_FIELDS_KEY
from sentiment.entrypoints.api.metrics import ApiMetrics

_INCOMING_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}\Z")  # \Z: `$` would pass "id\n"
UNMATCHED_ROUTE = "unmatched"
# Methods get their own label value; any other is "other" (h11 accepts any token as a method,
# and each new label value would be a new series kept for the life of the process).
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
)
OTHER_METHOD = "other"


class _TooLarge:
    """What `_read_body` returns for a body over the limit."""


_TOO_LARGE = _TooLarge()

logger = logging.getLogger("sentiment.api")
access_logger = logging.getLogger(ACCESS_LOGGER)


CLIENT_CLOSED = 499  # nginx's status for a client that went away before any answer: not a 5xx


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope[REQUEST_ID_KEY] = request_id
        id_header = (b"x-request-id", request_id.encode("ascii"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error on %s %s (request id %s)",
                scope.get("method", ""),
                scope.get("path", ""),
                request_id,
                extra={"request_id": request_id},
            )
            if status:  # the response has started: nothing sane can be sent any more
                raise
            response = error_response(scope, 500, "internal_error", INTERNAL_MESSAGE)
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = scope.get("path", "")
            route = path if path in self.routes else UNMATCHED_ROUTE
            method = scope.get("method", "")
            method = method if method in KNOWN_METHODS else OTHER_METHOD
            status = status or CLIENT_CLOSED  # nothing sent, no error: the client went away
            self.metrics.observe_request(route, method, status, elapsed)
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "body_bytes": _content_length(scope),
                        **scope.get(LOG_FIELDS_KEY, {}),
                    },
                )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            if _INCOMING_ID.match(value):
                return str(value.decode("ascii"))
            break
    return new_request_id()


def new_request_id() -> str:
    """A fresh request id: 16 hex digits."""
    return os.urandom(8).hex()


class BodyGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        json_routes: Collection[str],
        body_timeout_s: float = 30.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_routes = frozenset(json_routes)
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in self.json_routes
        ):
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        content_type: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                content_type = value
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        problem = content_type_problem(content_type)
        if problem:
            response = error_response(scope, 415, "unsupported_media_type", problem)
            await response(scope, receive, send)
            return

        try:
            async with asyncio.timeout(self.body_timeout_s):
                body = await self._read_body(receive)
        except TimeoutError:
            response = error_response(
                scope,
                408,
                "request_timeout",
                f"the body did not arrive within {self.body_timeout_s:g} s "
                "(SENTIMENT_BODY_TIMEOUT_S)",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        if body is None:
            return  # the client went away: nobody to answer
        if isinstance(body, _TooLarge):
            await self._too_large(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> bytes | _TooLarge | None:
        """The whole body; `_TOO_LARGE` as soon as it passes the limit; None on a disconnect."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return _TOO_LARGE
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            scope,
            413,
            "payload_too_large",
            f"the body exceeds the limit of {self.max_body_bytes} bytes (SENTIMENT_MAX_BODY_BYTES)",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def content_type_problem(value: bytes | None) -> str | None:
    """Why a Content-Type is not acceptable for a JSON body, or None when it is."""
    if not value:
        return "missing Content-Type: send `Content-Type: application/json`"
    media, _, parameters = value.decode("latin-1").partition(";")
    if media.strip().lower() != "application/json":
        return "unsupported Content-Type: send `Content-Type: application/json`"
    for parameter in parameters.split(";"):
        key, _, raw = parameter.partition("=")
        if key.strip().lower() == "charset" and raw.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return "unsupported charset: JSON bodies must be UTF-8"
    return None
