"""A CLI whose reader goes away (`registry list | head -1`) ends quietly, as other tools do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentiment.entrypoints.cli_support import EXIT_BROKEN_PIPE
from tests.support.processes import clean_env

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--registry", "memory"],
        ["history", "--registry", "memory"],
    ],
    ids=["list", "history"],
)
def test_output_into_a_closed_pipe_ends_without_a_traceback(
    args: list[str], tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sentiment.entrypoints.registry", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # the reader is gone before the command writes anything
    err = process.stderr.read().decode()
    code = process.wait(timeout=120)
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert code == EXIT_BROKEN_PIPE, err
