"""What the CLIs share: `run_guarded` turns a Ctrl-C into exit code 130 and one line."""

from __future__ import annotations

import io

import pytest

from sentiment.entrypoints.cli_support import run_guarded


def test_an_interrupt_exits_130_with_one_line_and_no_trace() -> None:
    err = io.StringIO()

    def interrupted() -> str:
        raise KeyboardInterrupt

    try:
        code = run_guarded(interrupted, err)
    except KeyboardInterrupt:  # escaped: pytest would take it for the user's own Ctrl-C
        pytest.fail("run_guarded let the KeyboardInterrupt through")
    assert code == 130  # 128 + SIGINT, as a shell reports it
    assert err.getvalue() == "\ninterrupted\n"
