"""The schemathesis CLI against the real API under uvicorn, over HTTP: every phase (the
document's examples, coverage of its boundaries, fuzzing, stateful sequences), every check, a
fixed seed. Smaller than the in-process run (tests/unit/api/test_fuzz_openapi.py), which makes
the 1,000+ cases; this one proves the same document holds over a real socket."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.api.conftest import Api, Store, running_api
from tests.support.processes import VENV_BIN

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def small_limits_api(trained_store: Store) -> Iterator[Api]:
    # Small limits keep schemathesis' generation of texts near them cheap.
    with running_api(
        trained_store, "fuzz.log", max_text_chars="300", max_batch="8", reload_interval_s="0"
    ) as api:
        yield api


def test_schemathesis_finds_nothing_over_http(small_limits_api: Api, tmp_path: Path) -> None:
    command = [str(VENV_BIN / "schemathesis"), "--no-color", "run"]
    command += [f"{small_limits_api.url}/openapi.json"]
    command += ["--checks", "all", "--max-examples", "40", "--seed", "20261127"]
    command += ["--generation-deterministic", "--request-timeout", "30"]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path
    )
    output = completed.stdout + completed.stderr
    summary = output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output[-3000:]
    print(summary)
    assert completed.returncode == 0, output[-6000:]
    assert re.search(r"\b0 failures\b|No issues found", output, re.IGNORECASE), summary
    log = small_limits_api.log.read_text(errors="replace")
    assert "Traceback" not in log
