"""Subprocesses for tests: servers in their own session (stopped with their workers), CLIs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def venv_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment with the venv's bin first on PATH (mlflow shells out to uvicorn)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    if "SENTIMENT_TEST_DATA" in os.environ:
        env["SENTIMENT_TEST_DATA"] = os.environ["SENTIMENT_TEST_DATA"]
    env.update(extra or {})
    return env


def tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for_http(process: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode} before answering:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"server did not answer {url} within {timeout_s:.0f} s:\n{tail(log)}")


def stop_group(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """Stop the process group `process` leads, politely then firmly."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    # Workers may outlive their parent: the group goes either way.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)


@contextmanager
def running_server(
    command: Sequence[str],
    ready_url: str,
    log: Path,
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float = 120.0,
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            list(command),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        try:
            wait_for_http(process, ready_url, log, timeout_s)
            yield process
        finally:
            stop_group(process)


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
