"""`BoundedHttpToolsProtocol` fed reads exactly as chosen, on an in-memory transport, with an
event loop whose clock the test moves: the bound's exact edge, whatever the read boundaries, on
every request of a connection, the default head timeout, and a client that leaves mid-body.

(Under a real server: tests/integration/api/test_bounded_http.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from sentiment.entrypoints.bounded_http import BoundedHttpToolsProtocol

BOUND = 16 * 1024  # the documented bound, h11's own: 16 KiB of request line and headers


class MemoryTransport(asyncio.Transport):
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class MovableClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose `time()` moves only when the test says so."""

    now = 1000.0

    def time(self) -> float:
        return self.now


@dataclass
class RecordingApp:
    """Answers 204 at once; records each request's path and the last message it received."""

    paths: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        self.received.append(message["type"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class Connection:
    app: RecordingApp
    loop: MovableClockLoop
    protocol: BoundedHttpToolsProtocol
    transport: MemoryTransport

    def send(self, *reads: bytes) -> None:
        """Each of `reads` arrives as one read, then the app runs as far as it can."""
        for data in reads:
            self.protocol.data_received(data)
        self.settle()

    def settle(self) -> None:
        for _ in range(20):  # enough loop iterations for the app to answer what it has
            self.loop.run_until_complete(asyncio.sleep(0))

    def wait(self, seconds: float) -> None:
        self.loop.now += seconds
        self.settle()

    def status(self) -> int:
        """The status of the last response written."""
        return int(self.transport.written.rsplit(b"HTTP/1.1 ", 1)[1][:3])


@pytest.fixture
def connection() -> Iterator[Connection]:
    loop = MovableClockLoop()
    app = RecordingApp()
    config = uvicorn.Config(app, log_config=None, http=BoundedHttpToolsProtocol)
    protocol = BoundedHttpToolsProtocol(config, ServerState(), app_state={}, _loop=loop)
    transport = MemoryTransport()
    protocol.connection_made(transport)
    try:
        yield Connection(app, loop, protocol, transport)
    finally:
        if not transport.closed:
            protocol.connection_lost(None)
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def head(path: str, size: int) -> bytes:
    """A GET request whose head (request line, headers, blank line) is `size` bytes."""
    start = f"GET {path} HTTP/1.1\r\nHost: test\r\nX-Filler: ".encode()
    end = b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


def in_reads(data: bytes, split: str) -> list[bytes]:
    if split == "one read":
        return [data]
    if split == "last byte apart":
        return [data[:-1], data[-1:]]
    return [data[i : i + 1] for i in range(len(data))]  # a byte per read


SPLITS = ["one read", "last byte apart", "a byte per read"]


@pytest.mark.parametrize("split", SPLITS)
def test_a_head_of_exactly_16_kib_is_served(connection: Connection, split: str) -> None:
    connection.send(*in_reads(head("/at-the-bound", BOUND), split))
    assert connection.app.paths == ["/at-the-bound"]
    assert connection.status() == 204
    assert not connection.transport.closed


@pytest.mark.parametrize("split", SPLITS)
def test_a_head_one_byte_over_16_kib_is_refused_with_431_and_closed(
    connection: Connection, split: str, caplog: pytest.LogCaptureFixture
) -> None:
    connection.send(*in_reads(head("/over", BOUND + 1), split))
    assert connection.app.paths == []
    assert connection.transport.written.startswith(
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    )
    assert connection.transport.closed
    assert [r.levelname for r in caplog.records if r.name == "sentiment.http"] == ["WARNING"]


@pytest.mark.parametrize("split", SPLITS)
def test_every_request_on_a_kept_alive_connection_has_the_same_bound(
    connection: Connection, split: str
) -> None:
    connection.send(head("/first", 200))
    connection.send(*in_reads(head("/second", BOUND), split))
    assert connection.app.paths == ["/first", "/second"]
    assert connection.status() == 204
    connection.send(*in_reads(head("/third", BOUND + 1), split))
    assert connection.app.paths == ["/first", "/second"]
    assert connection.status() == 431
    assert connection.transport.closed


def test_a_stalled_head_is_answered_408_after_30_s_by_default(
    connection: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    connection.send(b"GET /stalled HTTP/1.1\r\nHost: test\r\n")
    connection.wait(29.9)
    assert connection.transport.written == b""
    connection.wait(0.2)
    assert connection.status() == 408
    assert b'"request_timeout"' in connection.transport.written
    assert connection.transport.closed
    assert connection.app.paths == []
    assert [r.levelname for r in caplog.records if r.name == "sentiment.http"] == ["WARNING"]


def test_a_connection_that_sends_nothing_is_closed_after_30_s(connection: Connection) -> None:
    connection.wait(29.9)
    assert not connection.transport.closed
    connection.wait(0.2)
    assert connection.status() == 408
    assert connection.transport.closed


def test_a_client_gone_mid_body_is_a_disconnect_for_the_app(connection: Connection) -> None:
    """The app waiting for the rest of a body learns that it will not come."""
    connection.send(b"POST /gone HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789")
    assert connection.app.received == []  # still waiting for 90 bytes
    connection.protocol.connection_lost(None)
    connection.settle()
    assert connection.app.received == ["http.disconnect"]


def test_a_malformed_head_longer_than_the_bound_is_answered_once_with_400(
    connection: Connection,
) -> None:
    """The parser refuses the first bytes: one 400, the connection closed, the rest unread."""
    connection.send(b"NOT HTTP AT ALL\r\n" + b"a" * (BOUND + 100))
    assert connection.transport.written.count(b"HTTP/1.1 ") == 1
    assert connection.status() == 400
    assert connection.transport.closed
