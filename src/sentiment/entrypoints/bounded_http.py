"""uvicorn's httptools protocol with the request head bounded, as its h11 protocol already is.

uvicorn's fast parser (httptools, which `--http auto` picks when it is installed, as here) keeps
every byte of a request line and headers until the head is complete, however many there are: one
connection sending 200 MB of headers grows the worker by 200 MB and is then answered. h11 refuses
a head over 16 KiB. `BoundedHttpToolsProtocol` feeds the parser at most `MAX_HEAD_BYTES` of a head
and answers anything longer with 431 and the API's error shape, then closes the connection,
before the excess is read into memory. Bodies are not counted here (`BodyGuardMiddleware`
bounds them). The bound can overshoot by at most one read (`data_received` call) for a head that
arrives in the same read as the end of the previous request's body.

`serve` uses it; `uvicorn sentiment.entrypoints.api:app` cannot (uvicorn's command line takes no
protocol class): run that with `--http h11` where a head bound matters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024  # h11's default bound, uvicorn's other parser

logger = logging.getLogger("sentiment.http")


def refusal(limit: int) -> bytes:
    """The whole 431 response: the API's error shape, its own request id, connection closed."""
    request_id = os.urandom(8).hex()
    message = f"the request line and headers are over {limit} bytes"
    body = json.dumps(
        {"error": {"code": "header_too_large", "message": message, "request_id": request_id}}
    ).encode("ascii")
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"x-request-id: {request_id}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """See the module docstring."""

    max_head_bytes = MAX_HEAD_BYTES

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._in_head = True  # bytes fed now belong to a request line or its headers
        self._head_bytes = 0
        super().connection_made(transport)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
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
        self.transport.write(refusal(self.max_head_bytes))
        self.transport.close()
