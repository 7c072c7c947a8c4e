"""uvicorn's httptools protocol with the request head bounded in size (as its h11 protocol already
is) and in time (as neither is).

uvicorn's fast parser (httptools, which `--http auto` picks when it is installed, as here) keeps
every byte of a request line and headers until the head is complete, however many there are: one
connection sending 200 MB of headers grows the worker by 200 MB and is then answered. h11 refuses
a head once it holds more than 16 KiB of it unfinished (a head read whole in one read passes).
`BoundedHttpToolsProtocol` feeds the parser at most `MAX_HEAD_BYTES` of a head, however it
arrives, and answers anything longer with 431 and the API's error shape, then closes the connection,
before the excess is read into memory. Bodies are not counted here (`BodyGuardMiddleware`
bounds them). The bound can overshoot by at most one read (`data_received` call) for a head that
arrives in the same read as the end of the previous request's body.

It also bounds the time a head may take: neither uvicorn parser has a timeout on a head that never
completes, so a client that opens connections and sends nothing, or a byte now and then (slow
loris), held each of them for ever. From a connection's opening, or from the read that brought
the first bytes of a later request on it, the head must be complete within `HEAD_TIMEOUT_S`;
otherwise the answer is 408 `request_timeout` and the connection is closed. Idle time between
requests on a kept-alive connection is uvicorn's `timeout_keep_alive` (5 s), as before; a request
whose head arrived is never cut off here, however long the app takes.

`serve` uses it; so does `uvicorn sentiment.entrypoints.api:app --http
sentiment.entrypoints.bounded_http:BoundedHttpToolsProtocol` (uvicorn's `--http` takes a protocol
class by import path); plain `uvicorn sentiment.entrypoints.api:app` has neither bound.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sentiment.entrypoints.api.errors import REQUEST_ID_KEY, error_response
from sentiment.entrypoints.api.middleware import new_request_id

MAX_HEAD_BYTES = 16 * 1024  # h11's default bound, uvicorn's other parser
HEAD_TIMEOUT_S = 30.0  # as SENTIMENT_BODY_TIMEOUT_S's default

logger = logging.getLogger("sentiment.http")


def refusal(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole error response: the API's error body, its own request id, connection closed."""
    request_id = new_request_id()
    body = bytes(error_response({REQUEST_ID_KEY: request_id}, status, code, message).body)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"x-request-id: {request_id}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """See the module docstring."""

    max_head_bytes = MAX_HEAD_BYTES
    head_timeout_s = HEAD_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._in_head = True  # bytes fed now belong to a request line or its headers
        self._head_bytes = 0
        self._head_begun = False  # a request's first byte arrived, not yet its last header
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_begun = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        self._feed(data)
        # A head still incomplete after this read is timed from here (most heads arrive in one
        # read, and then no timer is made: a timer per request cost 5 us of about 85 here).
        if self._head_begun and not self.transport.is_closing():
            self._start_head_timer()

    def _feed(self, data: bytes) -> None:
        # Feed a head at most the room it has left; what follows its end is fed as it came.
        while data and self._in_head and not self.transport.is_closing():
            room = self.max_head_bytes - self._head_bytes
            if room <= 0:
                self._refuse()
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)
        if data and not self.transport.is_closing():
            super().data_received(data)

    def _refuse(self) -> None:
        logger.warning(
            "request head over %d bytes: answered 431 and closed the connection",
            self.max_head_bytes,
        )
        message = f"the request line and headers are over {self.max_head_bytes} bytes"
        self.transport.write(
            refusal(431, "Request Header Fields Too Large", "header_too_large", message)
        )
        self.transport.close()

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        logger.warning(
            "request head not complete within %g s: answered 408 and closed the connection",
            self.head_timeout_s,
        )
        message = f"the request head did not arrive within {self.head_timeout_s:g} s"
        self.transport.write(refusal(408, "Request Timeout", "request_timeout", message))
        self.transport.close()
