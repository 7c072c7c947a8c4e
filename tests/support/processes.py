"""Subprocesses for tests, in this venv's environment: a server started, awaited until it answers
and always stopped (`running_server`), a CLI run to completion (`run_cli`), their workers.

Free ports: `tests.support.local_http.free_port`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


_MLFLOW_PROCESS_URIS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def venv_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment with this venv's bin first on PATH (servers shell out to it).

    MLflow's `set_tracking_uri`/`set_registry_uri` also write MLFLOW_TRACKING_URI and
    MLFLOW_REGISTRY_URI into this process's environment: an earlier in-process test must not
    point a later subprocess at its (stopped) server, so those two come only from `extra`.
    """
    env = {k: v for k, v in os.environ.items() if k not in _MLFLOW_PROCESS_URIS}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """`venv_env` without SENTIMENT_* settings (SENTIMENT_TEST_DATA stays), plus `extra`."""
    env = {
        k: v
        for k, v in venv_env().items()
        if not k.startswith("SENTIMENT_") or k == "SENTIMENT_TEST_DATA"
    }
    env.update(extra or {})
    return env


def run_cli(
    module: str,
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """`python -m sentiment.entrypoints.<module> args...` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", f"sentiment.entrypoints.{module}", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def mlflow_server_command(backend: str, artifacts: Path, port: int) -> list[str]:
    """`mlflow server` from this venv: one worker on 127.0.0.1:`port`, the given backend store,
    artifacts proxied into the folder `artifacts`."""
    return [
        str(VENV_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(
    process: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float
) -> None:
    """Poll `url` until it answers 200; fail the test with the log's tail if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode} before answering:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"server did not answer {url} within {timeout_s:.0f} s:\n{_tail(log)}")


def stop(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """Stop the process group the server leads (its workers too), politely then firmly."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_s)


@contextmanager
def running_server(
    command: Sequence[str],
    ready_url: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 120.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` in a new session (so that its workers can be stopped with it)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            wait_until_ready(process, ready_url, log, timeout_s)
            yield process
        finally:
            stop(process)


def child_pids(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.add(int(entry.name))
    return found


def worker_pids(supervisor: int) -> set[int]:
    """The worker processes of a server (forked or spawned): its children, except the resource
    tracker that multiprocessing starts beside spawned workers."""
    workers = set()
    for child in child_pids(supervisor):
        with contextlib.suppress(OSError):  # gone meanwhile
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
    return workers
