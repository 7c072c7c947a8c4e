"""The server process under real uvicorn: SIGTERM drains the requests in flight and exits 0; a
worker killed with SIGKILL under load leaves the other one serving (and uvicorn replaces it); the
log is JSON lines with request ids and lengths, and never a submitted text, not even for a request
that crashes the model with the text in its error message."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sentiment.entrypoints.api import schemas
from tests.e2e.api.conftest import Store, running_api
from tests.support.api import subprocess_env
from tests.support.asgi_apps import FAIL_TRIGGER, SLOW_TRIGGER
from tests.support.data import REPO_ROOT, shared_data_path
from tests.support.local_http import free_port
from tests.support.processes import stop, wait_until_ready, worker_pids

pytestmark = pytest.mark.e2e
JSON_TYPE = {"Content-Type": "application/json"}
CLOSE = {"Connection": "close"}  # a new connection per request: any worker may take it


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@contextlib.contextmanager
def serve(
    args: list[str],
    log: Path,
    env: dict[str, str],
    python_c: bool = False,
    module: str = "uvicorn",
) -> Iterator[Server]:
    """`python -m module args` on a free port (uvicorn unless told; any module that takes
    `--host` and `--port`), or, with `python_c`, `python -c args... PORT`."""
    port = free_port()
    if python_c:
        command = [sys.executable, *args, str(port)]
    else:
        command = [sys.executable, "-m", module, *args]
        command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,  # `tests.support.asgi_apps` is importable from here
            start_new_session=True,
        )
        try:
            wait_until_ready(process, f"http://127.0.0.1:{port}/ready", log, timeout_s=120)
            yield Server(process, port, log)
        finally:
            stop(process)


def misbehaving(tmp: Path, **extra: str) -> dict[str, str]:
    return subprocess_env(SENTIMENT_TEST_DATA=str(shared_data_path()), **extra)


MISBEHAVING_APP = ["--factory", "tests.support.asgi_apps:misbehaving_app"]


def call(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers={**JSON_TYPE, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# -- SIGTERM -----------------------------------------------------------------------------------


# An entrypoint that prepares the process before uvicorn runs, as `sentiment.entrypoints.serve`
# does: then the SIGTERM uvicorn re-raises after its graceful shutdown ends the process with 0.
# `uvicorn sentiment.entrypoints.api:app` does the same (importing `app` prepares the process
# before uvicorn installs its handlers: `test_the_documented_uvicorn_command_exits_0`); an app
# that a `--factory` builds is made after, as the test apps here are.
ENTRYPOINT = (
    "import sys, uvicorn\n"
    "from sentiment.entrypoints.api import prepare_process\n"
    "prepare_process()\n"
    "uvicorn.run(sys.argv[1], factory=True, host='127.0.0.1', port=int(sys.argv[2]))\n"
)


@pytest.mark.parametrize(
    ("launcher", "expected_exit"),
    [("entrypoint", 0), ("uvicorn-cli", -signal.SIGTERM)],
    ids=["prepared-entrypoint-exits-0", "uvicorn-cli-factory-re-raises-sigterm"],
)
def test_sigterm_lets_the_request_in_flight_finish_then_exits(
    tmp_path: Path, launcher: str, expected_exit: int
) -> None:
    """With the plain `uvicorn --factory` CLI the app is built after uvicorn installed its own
    signal handlers, so uvicorn ends the process by re-raising SIGTERM (-15, 143 in a shell)
    after the same graceful shutdown; an entrypoint that calls `prepare_process()` first exits
    0."""
    started = tmp_path / "started"
    env = misbehaving(tmp_path, SENTIMENT_TEST_SLOW_S="3", SENTIMENT_TEST_STARTED_FILE=str(started))
    answers: list[tuple[int, dict[str, str], bytes]] = []
    app = "tests.support.asgi_apps:misbehaving_app"
    command = ["-c", ENTRYPOINT, app] if launcher == "entrypoint" else MISBEHAVING_APP
    with serve(command, tmp_path / "sigterm.log", env, python_c=launcher == "entrypoint") as server:
        # Longer than the inline limit, so the slow prediction runs off the event loop.
        text = f"{SLOW_TRIGGER} " + "a fine and moving film " * 400
        client = threading.Thread(
            target=lambda: answers.append(call(server.port, "POST", "/predict", {"text": text}))
        )
        client.start()
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline, "the slow request never reached the model"
            time.sleep(0.02)
        server.process.send_signal(signal.SIGTERM)
        # Draining: no new connection is accepted while the request in flight finishes.
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        assert server.process.poll() is None, "exited before the request in flight finished"
        client.join(timeout=60)
        exit_code = server.process.wait(timeout=60)

    status, _, body = answers[0]
    assert status == 200, body
    schemas.PredictResponse.model_validate_json(body)
    assert exit_code == expected_exit
    log = (tmp_path / "sigterm.log").read_text()
    assert "Waiting for connections to close" in log or "Waiting for background tasks" in log
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


def test_the_documented_uvicorn_command_exits_0(trained_store: Store) -> None:
    """`uvicorn sentiment.entrypoints.api:app`, as the README starts it, stops on SIGTERM with
    status 0: a graceful stop is a success to a supervisor."""
    with running_api(trained_store, "sigterm-app.log") as api:  # up once /ready is 200
        api.process.send_signal(signal.SIGTERM)
        assert api.process.wait(timeout=60) == 0, api.log.read_text()


# -- SIGKILL of one worker under load ----------------------------------------------------------


LAUNCHERS = {
    "serve-entrypoint": ("sentiment.entrypoints.serve", ["--workers", "2"]),
    "uvicorn-cli": ("uvicorn", ["sentiment.entrypoints.api:app", "--workers", "2"]),
}


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_a_worker_killed_under_load_leaves_the_other_serving(
    trained_store: Store, tmp_path: Path, launcher: str
) -> None:
    """Two workers, under our own supervisor (`python -m sentiment.entrypoints.serve`) and under
    `uvicorn --workers 2`: one is killed with SIGKILL mid-load; the other keeps serving and the
    supervisor starts a replacement. Both then stop on SIGTERM with status 0."""
    module, args = LAUNCHERS[launcher]
    log = tmp_path / "workers.log"
    with serve(args, log, trained_store.env(), module=module) as server:
        deadline = time.monotonic() + 60
        while len(before := worker_pids(server.process.pid)) < 2:
            assert time.monotonic() < deadline, "two workers never started"
            time.sleep(0.2)
        ready_in_a_row = 0  # both workers loaded their model (each answers /ready itself)
        while ready_in_a_row < 30:
            assert time.monotonic() < deadline + 60, "the workers never all became ready"
            ok = call(server.port, "GET", "/ready", headers={"Connection": "close"})[0] == 200
            ready_in_a_row = ready_in_a_row + 1 if ok else 0
            time.sleep(0.05)

        outcomes: list[tuple[float, str]] = []
        stop_load = threading.Event()

        def load() -> None:
            for _ in range(5_000):  # bounded; stopped by the event long before
                if stop_load.is_set():
                    return
                try:
                    status, _, _ = call(
                        server.port, "POST", "/predict", {"text": "Great fun."}, CLOSE
                    )
                    outcomes.append((time.monotonic(), str(status)))
                except (OSError, http.client.HTTPException) as error:
                    # A reset, or a response cut short (IncompleteRead) by the killed worker.
                    outcomes.append((time.monotonic(), type(error).__name__))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(4)
        stop_load.set()
        for thread in threads:
            thread.join(timeout=60)

        # The supervisor starts a replacement worker.
        deadline = time.monotonic() + 90
        while not ((after := worker_pids(server.process.pid)) - before and len(after) == 2):
            assert time.monotonic() < deadline, f"no replacement worker: {after}"
            time.sleep(0.5)
        assert victim not in after
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0, log.read_text()
        assert not any(Path(f"/proc/{pid}").exists() for pid in after)

    statuses = [status for _, status in outcomes]
    assert not [s for s in statuses if s.startswith("5")], statuses
    served_after_kill = [s for at, s in outcomes if at > killed_at + 0.5 and s == "200"]
    assert len(served_after_kill) >= 20, "the surviving worker did not keep serving"
    failed = [s for s in statuses if s != "200"]
    # Only the connections the killed worker held can fail: a handful at most.
    assert len(failed) <= 4, failed


# -- logs ---------------------------------------------------------------------------------------


def test_the_log_has_request_ids_and_lengths_but_never_the_text(tmp_path: Path) -> None:
    marker = f"privacy-{uuid.uuid4().hex}"
    env = misbehaving(tmp_path, SENTIMENT_TEST_SLOW_S="0")
    sent: dict[str, tuple[int, str]] = {}
    with serve(MISBEHAVING_APP, tmp_path / "privacy.log", env) as server:
        requests: dict[str, tuple[str, Any]] = {
            "predict": ("/predict", {"text": f"A wonderful film {marker}"}),
            "batch": ("/predict/batch", {"texts": [f"Superb {marker}", f"Awful {marker}!"]}),
            "invocations": ("/invocations", {"inputs": [f"Fine {marker}"]}),
            "422": ("/predict", {"text": f"ok {marker}", "extra": marker}),
            "400": ("/predict", f'{{"text": "{marker}'.encode()),
            "415": ("/predict", f"text={marker}".encode()),
            "500": ("/predict", {"text": f"{FAIL_TRIGGER} {marker}"}),
        }
        for name, (path, body) in requests.items():
            extra = {"X-Request-ID": f"req-{name}"}
            if name == "415":
                extra["Content-Type"] = "text/plain"
            status, headers, answer = call(server.port, "POST", path, body, extra)
            assert marker.encode() not in answer
            sent[name] = (status, headers["x-request-id"])
        status, _, _ = call(server.port, "GET", f"/{marker}")  # a path is not logged either
        assert status == 404
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == -signal.SIGTERM  # uvicorn --factory: see above

    assert {name: status for name, (status, _) in sent.items()} == {
        "predict": 200,
        "batch": 200,
        "invocations": 200,
        "422": 422,
        "400": 400,
        "415": 415,
        "500": 500,
    }
    log = (tmp_path / "privacy.log").read_text()
    assert marker not in log
    assert marker[len("privacy-") :] not in log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "sentiment.access"}
    assert set(access) >= {request_id for _, request_id in sent.values()}
    predict = access["req-predict"]
    assert predict["method"] == "POST"
    assert predict["path"] == "/predict"
    assert predict["status"] == 200
    assert predict["duration_ms"] > 0
    assert predict["texts"] == 1
    assert predict["text_chars"] == len(f"A wonderful film {marker}")
    assert predict["model_version"] == "1"
    batch = access["req-batch"]
    assert (batch["texts"], batch["text_chars_max"]) == (2, len(f"Awful {marker}!"))
    assert access["req-415"]["status"] == 415
    crash = [line for line in lines if line.get("request_id") == "req-500" and "exc_type" in line]
    assert crash, "the crash was not logged"
    assert crash[0]["exc_type"] == "builtins.ValueError"
    assert "exc_message" not in crash[0]
    assert any("asgi_apps.py" in frame for frame in crash[0]["stack"])
    assert not any(line["logger"] == "uvicorn.access" for line in lines)
