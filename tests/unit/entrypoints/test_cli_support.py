"""What the CLIs share: `run_guarded` turns a Ctrl-C into exit code 130 and one line."""

from __future__ import annotations

import io

import pytest

from sentiment.application.progress import SilentProgress
from sentiment.domain.errors import DatasetError
from sentiment.entrypoints.cli_support import StageProgress, run_guarded


def test_an_interrupt_exits_130_with_one_line_and_no_trace() -> None:
    err = io.StringIO()

    def interrupted() -> str:
        raise KeyboardInterrupt

    try:
        code = run_guarded(interrupted, err)
    except KeyboardInterrupt:  # escaped: pytest would take it for the user's own Ctrl-C
        pytest.fail("run_guarded let the KeyboardInterrupt through")
    assert code == 130  # 128 + SIGINT, as a shell reports it
    assert err.getvalue() == "interrupted\n"


def test_the_error_line_starts_anew_only_after_an_unfinished_progress_line() -> None:
    err = io.StringIO()
    progress = StageProgress(err)

    def failing_in_a_stage() -> str:
        progress.stage_started("fit")
        raise DatasetError("no rows")

    assert run_guarded(failing_in_a_stage, err, progress=progress) == 2
    assert err.getvalue() == "fit      ...\nerror: no rows\n"


def test_without_progress_the_error_is_the_only_line() -> None:
    def failing() -> str:
        raise DatasetError("no rows")

    err = io.StringIO()  # -q: nothing printed before it, so no blank line either
    assert run_guarded(failing, err, progress=SilentProgress()) == 2
    assert err.getvalue() == "error: no rows\n"
