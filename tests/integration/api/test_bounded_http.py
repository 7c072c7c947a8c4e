"""`BoundedHttpToolsProtocol` under a real uvicorn server on a loopback socket: a head over the
bound is answered 431 and the connection closed, before the rest is read; a head that does not
arrive in time is answered 408; bodies, slow apps, keep-alive and pipelined requests are
untouched."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from sentiment.entrypoints.bounded_http import MAX_HEAD_BYTES, BoundedHttpToolsProtocol
from sentiment.entrypoints.serve import http_protocol
from tests.support.local_http import free_port


@dataclass
class EchoApp:
    """Answers every request with the size of its body and of its headers; counts requests."""

    requests: list[str] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests.append(scope["path"])
        if scope["path"] == "/slow":
            await asyncio.sleep(2 * HEAD_TIMEOUT_S)
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = sum(len(k) + len(v) for k, v in scope["headers"])
        body = json.dumps({"body": size, "headers": headers}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


HEAD_TIMEOUT_S = 1.0


class QuickHeadTimeout(BoundedHttpToolsProtocol):
    head_timeout_s = HEAD_TIMEOUT_S


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, EchoApp]]:
    app = EchoApp()
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=QuickHeadTimeout, log_config=None
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port, app
    running.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """`count` responses (status, headers, body), read with their content-length."""
    data = b""
    out: list[tuple[int, dict[str, str], bytes]] = []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {len(out)} responses"
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers["content-length"])
        while len(data) < length:
            data += sock.recv(65536)
        out.append((int(lines[0].split()[1]), headers, data[:length]))
        data = data[length:]
    return out


def request(path: str, extra_header_bytes: int = 0, body: bytes = b"") -> bytes:
    filler = f"X-Filler: {'a' * extra_header_bytes}\r\n" if extra_header_bytes else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\n{filler}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_head_just_under_the_bound_is_served(server: tuple[int, EchoApp]) -> None:
    port, _ = server
    message = request("/under", MAX_HEAD_BYTES - 200)
    assert len(message) <= MAX_HEAD_BYTES
    with connect(port) as sock:
        sock.sendall(message)
        ((status, _, body),) = read_responses(sock, 1)
    assert status == 200
    assert json.loads(body)["headers"] > MAX_HEAD_BYTES - 200


def test_a_head_over_the_bound_is_refused_with_431_and_the_api_error_shape(
    server: tuple[int, EchoApp],
) -> None:
    port, app = server
    with connect(port) as sock:
        sock.sendall(request("/over", MAX_HEAD_BYTES + 100))
        ((status, headers, body),) = read_responses(sock, 1)
        assert closed(sock)
    assert status == 431
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "header_too_large"
    assert str(MAX_HEAD_BYTES) in error["message"]
    assert error["request_id"] == headers["x-request-id"]
    assert "/over" not in app.requests


def test_an_endless_head_is_cut_off_before_it_is_read(server: tuple[int, EchoApp]) -> None:
    """The attack: header lines of 1 MiB, without end. Unbounded httptools read 200 MiB of them
    into one worker and then answered 200."""
    port, app = server
    line = b"X-Big: " + b"a" * (1 << 20) + b"\r\n"
    with connect(port) as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: test\r\n")
        sent = send_until_refused(sock, line, 64)
    assert sent < 16 * len(line)  # the server stopped reading long before 64 MiB
    assert "/endless" not in app.requests


def send_until_refused(sock: socket.socket, line: bytes, times: int) -> int:
    """Bytes sent before the server, having closed the connection, refused more."""
    sent = 0
    try:
        for _ in range(times):
            sock.sendall(line)
            sent += len(line)
    except (ConnectionResetError, BrokenPipeError):
        return sent
    raise AssertionError(f"the server read all {sent} bytes")


def test_bodies_are_not_counted(server: tuple[int, EchoApp]) -> None:
    """A small head and a 1 MiB body sent at once: the body is in the same reads as the head."""
    port, _ = server
    body = b"x" * (1 << 20)
    with connect(port) as sock:
        sock.sendall(request("/body", body=body))
        ((status, _, answer),) = read_responses(sock, 1)
    assert status == 200
    assert json.loads(answer)["body"] == len(body)


def test_the_bound_is_per_request_on_a_kept_alive_connection(
    server: tuple[int, EchoApp],
) -> None:
    port, _ = server
    with connect(port) as sock:
        for _ in range(3):  # 3 x 10 KiB of headers on one connection: each under the bound
            sock.sendall(request("/again", 10 * 1024, b"{}"))
            assert read_responses(sock, 1)[0][0] == 200


def test_pipelined_requests_in_one_write_are_all_answered(server: tuple[int, EchoApp]) -> None:
    port, _ = server
    with connect(port) as sock:
        sock.sendall(b"".join(request(f"/pipe{i}", 4 * 1024, b"{}") for i in range(3)))
        responses = read_responses(sock, 3)
    assert [status for status, _, _ in responses] == [200, 200, 200]


def assert_served(sock: socket.socket, path: str) -> None:
    sock.sendall(request(path, body=b"{}"))
    ((status, _, _),) = read_responses(sock, 1)
    assert status == 200


def assert_timed_out(sock: socket.socket, started: float) -> None:
    ((status, headers, body),) = read_responses(sock, 1)
    waited = time.monotonic() - started
    assert status == 408
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout"
    assert error["request_id"] == headers["x-request-id"]
    assert f"within {HEAD_TIMEOUT_S:g} s" in error["message"]
    assert HEAD_TIMEOUT_S * 0.9 <= waited < HEAD_TIMEOUT_S + 5
    assert closed(sock)


def test_a_head_that_stops_arriving_is_answered_408_and_closed(
    server: tuple[int, EchoApp],
) -> None:
    port, app = server
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /stalled HTTP/1.1\r\nHost: test\r\n")
        assert_timed_out(sock, started)
    assert "/stalled" not in app.requests


def test_a_connection_that_sends_nothing_is_closed(server: tuple[int, EchoApp]) -> None:
    port, _ = server
    with connect(port) as sock:
        assert_timed_out(sock, time.monotonic())


def test_a_dripping_head_is_cut_off(server: tuple[int, EchoApp]) -> None:
    """Slow loris: a byte every 0.2 s keeps the connection busy but never finishes the head."""
    port, app = server
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /drip HTTP/1.1\r\nHost: test\r\nX-Drip: ")
        while not select.select([sock], [], [], 0.2)[0]:  # until the server answers
            assert time.monotonic() - started < HEAD_TIMEOUT_S + 5, "never cut off"
            sock.sendall(b"a")
        assert_timed_out(sock, started)
    assert "/drip" not in app.requests


def test_a_later_head_on_a_kept_alive_connection_is_timed_too(
    server: tuple[int, EchoApp],
) -> None:
    port, _ = server
    with connect(port) as sock:
        assert_served(sock, "/served")
        started = time.monotonic()
        sock.sendall(b"GET /stalled-later HTTP/1.1\r\nHost: test\r\n")
        assert_timed_out(sock, started)


def test_an_app_slower_than_the_head_timeout_is_not_cut_off(server: tuple[int, EchoApp]) -> None:
    port, _ = server
    with connect(port) as sock:
        assert_served(sock, "/slow")


def test_idle_time_between_kept_alive_requests_is_not_head_time(
    server: tuple[int, EchoApp],
) -> None:
    """Between requests uvicorn's keep-alive timeout (5 s) applies, not the head's."""
    port, _ = server
    with connect(port) as sock:
        assert_served(sock, "/first")
        time.sleep(2 * HEAD_TIMEOUT_S)
        assert_served(sock, "/second")


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", BoundedHttpToolsProtocol), ("httptools", BoundedHttpToolsProtocol), ("h11", "h11")],
)
def test_serve_maps_each_parser_choice_to_a_bounded_protocol(choice: str, expected: object) -> None:
    assert http_protocol(choice) == expected


@pytest.mark.parametrize("choice", ["auto", "httptools", "h11"])
def test_without_httptools_serve_leaves_each_parser_choice_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch, choice: str
) -> None:
    """httptools not installed (made absent as in test_serve_without_httptools.py): "auto" is
    uvicorn's h11, which bounds the head itself, and "httptools" fails in uvicorn as usual."""
    monkeypatch.setitem(sys.modules, "httptools", None)
    assert http_protocol(choice) == choice
