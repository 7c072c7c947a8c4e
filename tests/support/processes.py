"""CLIs as subprocesses, in an environment free of the caller's SENTIMENT_* settings.

Servers: `tests.processes.running_server`; free ports: `tests.conftest.free_port`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.processes import venv_env


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


__all__ = ["clean_env", "run_cli"]
