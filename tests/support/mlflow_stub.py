"""A stand-in for an MLflow tracking server: canned answers by path, every request recorded.

`serve_stub()` runs a `ThreadingHTTPServer` on 127.0.0.1 (a port of its own) in a thread. Each
path (`/api/2.0/mlflow/model-versions/get`...) has a list of answers, served in order, the last
one repeated; a path without answers is a 404 `ENDPOINT_NOT_FOUND`, as MLflow answers it.
"""

from __future__ import annotations

import http.server
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.local_http import threaded_http_server

API = "/api/2.0/mlflow/"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts/"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    declared_length: int | None = None
    """A length larger than the body: the server stops short of what it announced."""
    chunked: bool = False
    """Sent as one chunk of `declared_length` bytes (Transfer-Encoding: chunked)."""


def answer(status: int, payload: Any) -> Answer:
    return Answer(status, json.dumps(payload).encode())


def mlflow_error(status: int, code: str, message: str) -> Answer:
    return answer(status, {"error_code": code, "message": message})


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class StubMlflow:
    url: str = ""
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    def on(self, path: str, *answers: Answer) -> None:
        """Answer `path` (after `API` unless it starts with "/") with `answers`, in order."""
        self.answers[path if path.startswith("/") else API + path] = list(answers)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def _next(self, path: str) -> Answer:
        queue = self.answers.get(path)
        if not queue:
            return mlflow_error(404, "ENDPOINT_NOT_FOUND", f"no endpoint {path}")
        return queue.pop(0) if len(queue) > 1 else queue[0]


def _handler(stub: StubMlflow) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(parsed.path)
            query = dict(urllib.parse.parse_qsl(parsed.query))
            stub.requests.append(Seen(path, query, dict(self.headers.items())))
            reply = stub._next(path)
            self.close_connection = True
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            length = reply.declared_length or len(reply.body)
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            if reply.chunked:
                self.wfile.write(f"{length:x}\r\n".encode())
            self.wfile.write(reply.body)
            if reply.chunked and length == len(reply.body):
                self.wfile.write(b"\r\n0\r\n\r\n")

    return Handler


@contextmanager
def serve_stub() -> Iterator[StubMlflow]:
    stub = StubMlflow()
    with threaded_http_server(_handler(stub)) as port:
        stub.url = f"http://127.0.0.1:{port}"
        yield stub
