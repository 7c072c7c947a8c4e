"""How the PostgreSQL restart test restarts PostgreSQL: a local cluster here, the service container
in CI (GitHub's runner cannot restart that one with pg_ctlcluster: it is another container, and the
runner's user may not run pg_ctlcluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.mlflow_servers import RESTART_ENV, restart_command


def test_a_configured_restart_command_is_run_as_given(tmp_path: Path) -> None:
    (tmp_path / "16").mkdir()  # a local cluster too: the configured command still wins
    environ = {RESTART_ENV: " docker restart 'abc 123' "}
    assert restart_command(environ, tmp_path) == ["docker", "restart", "abc 123"]


def test_otherwise_the_newest_local_cluster_is_restarted(tmp_path: Path) -> None:
    for version in ("15", "16"):
        (tmp_path / version).mkdir()
    assert restart_command({RESTART_ENV: " "}, tmp_path) == [
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        "16",
        "main",
        "restart",
    ]


def test_no_cluster_and_no_command_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=RESTART_ENV):
        restart_command({}, tmp_path / "absent")
