"""`python -m sentiment.entrypoints.serve --workers 2` as real processes, forked after the
preload or spawned: both workers accept connections and answer, and the server stops with its
workers."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.api.conftest import Store
from tests.support.local_http import free_port
from tests.support.processes import running_server, worker_pids

pytestmark = pytest.mark.e2e
CONNECTIONS = 24  # all on one of two workers by chance: 2 * 2**-24


def established_inodes(port: int) -> set[str]:
    """Socket inodes of the server's side of established TCP connections on `port`."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "01":
                inodes.add(inode)
    return inodes


def sockets_of(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def request(conn: http.client.HTTPConnection, method: str, path: str, body: object = None) -> int:
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def oversized_head_status(port: int) -> int:
    """The status of a request whose headers are 20 KiB, over the 16 KiB bound."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20480 + b"\r\n\r\n")
        return int(sock.recv(64).split(b" ")[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("start", ["--preload", "--no-preload"])
def test_two_workers_both_accept_and_answer(trained_store: Store, start: str) -> None:
    """Forked after the preload (the default) or spawned: two workers, both serving."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = trained_store.root / f"serve-2-workers{start}.log"
    command = [sys.executable, "-m", "sentiment.entrypoints.serve", "--port", str(port), start]
    env = trained_store.env(SENTIMENT_WORKERS="2", SENTIMENT_RELOAD_INTERVAL_S="0")
    with running_server(command, f"{url}/health", log, env=env, cwd=trained_store.root) as server:
        workers = worker_pids(server.pid)
        assert len(workers) == 2, log.read_text()
        connections = [
            http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(CONNECTIONS)
        ]
        try:
            for conn in connections:  # keep-alive: each stays with the worker that accepted it
                deadline = time.monotonic() + 120
                while request(conn, "GET", "/ready") != 200:  # that worker loads its model
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
                assert request(conn, "POST", "/predict", {"text": "A wonderful film!"}) == 200
            open_connections = established_inodes(port)
            per_worker = [len(sockets_of(pid) & open_connections) for pid in workers]
        finally:
            for conn in connections:
                conn.close()
        assert sum(per_worker) == CONNECTIONS, per_worker
        assert all(count > 0 for count in per_worker), per_worker  # both workers answered
        assert oversized_head_status(port) == 431  # the head is bounded (`bounded_http`)
    # Stopping the server stopped its workers, each gracefully (SIGTERM reached uvicorn's own
    # handler, not one inherited from the supervisor).
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert log.read_text().count("Finished server process") == 2, log.read_text()
