"""`serve` where httptools is not installed: it falls back to uvicorn's own choice, h11, which
bounds the request head itself, and it serves as usual.

httptools is one of the project's dependencies, so its absence is made the standard way for one
process: `sys.modules["httptools"] = None`, set before `serve` starts, makes
`importlib.util.find_spec("httptools")` None and `import httptools` an ImportError, for `serve`
and for uvicorn alike. Nothing of the project is patched."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time

import pytest

from tests.e2e.api.conftest import Store
from tests.support.local_http import free_port
from tests.support.processes import running_server

pytestmark = pytest.mark.e2e

WITHOUT_HTTPTOOLS = (
    "import runpy, sys\n"
    "sys.modules['httptools'] = None\n"
    "runpy.run_module('sentiment.entrypoints.serve', run_name='__main__', alter_sys=True)\n"
)


def head_response(port: int, *parts: bytes) -> bytes:
    """Everything the server sends for a request written in `parts`, 0.5 s apart, until it
    closes the connection."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for i, part in enumerate(parts):
            if i:
                time.sleep(0.5)
            sock.sendall(part)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_serve_without_httptools_runs_h11_and_its_head_bound(trained_store: Store) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = trained_store.root / "serve-without-httptools.log"
    command = [sys.executable, "-c", WITHOUT_HTTPTOOLS, "--port", str(port), "--workers", "1"]
    env = trained_store.env(SENTIMENT_RELOAD_INTERVAL_S="0")
    with running_server(command, f"{url}/ready", log, env=env, cwd=trained_store.root):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(
                "POST",
                "/predict",
                body=json.dumps({"text": "A wonderful film!"}),
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            body = json.loads(response.read())
        finally:
            conn.close()
        assert response.status == 200, log.read_text()
        assert body["label"] in {"positive", "negative"}

        # 20 KiB of headers, the first 17 KiB in a write of their own: h11 bounds what it holds
        # of an unfinished head at 16 KiB (a whole head read at once is not held unfinished),
        # so it refuses them, and uvicorn answers its parse errors 400 and closes. The bounded
        # httptools protocol would answer 431, and plain httptools would read them all and
        # answer 200: a 400 says h11 ran.
        big_head = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20480 + b"\r\n\r\n"
        refused = head_response(port, big_head[:17408], big_head[17408:])
        assert refused.startswith(b"HTTP/1.1 400 "), refused[:200]

        # A head within the bound is served on the same parser.
        served = head_response(
            port, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        assert served.startswith(b"HTTP/1.1 200 "), served[:200]


def test_workers_that_cannot_start_stop_serve_with_a_failure_status(trained_store: Store) -> None:
    """`--http httptools` where httptools is missing: every forked worker fails at its start, so
    after a few quick restarts the supervisor stops, and the process exits non-zero (as a service
    manager must see it), with the workers' status."""
    command = [sys.executable, "-c", WITHOUT_HTTPTOOLS, "--port", str(free_port())]
    command += ["--workers", "2", "--preload", "--http", "httptools"]
    completed = subprocess.run(
        command,
        env=trained_store.env(SENTIMENT_RELOAD_INTERVAL_S="0"),
        cwd=trained_store.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr[-4000:]
    assert "in a row" in completed.stderr, completed.stderr[-4000:]
