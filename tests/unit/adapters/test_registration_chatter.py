"""`mlflow.register_model` prints three routine lines on stderr each time; the training run drops
those (they broke the progress line and `--quiet`) and passes anything else on, a warning say,
whether the call returns or fails."""

from __future__ import annotations

import sys

import pytest

from sentiment.adapters.mlflow_run import _without_chatter

ROUTINE = (
    "Successfully registered model 'SentimentAnalysisModel'.\n"
    "Registered model 'SentimentAnalysisModel' already exists. Creating a new version of this "
    "model...\n"
    "Created version '12' of model 'SentimentAnalysisModel'.\n"
)


def test_the_routine_lines_are_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    def register() -> int:
        sys.stderr.write(ROUTINE)
        return 12

    assert _without_chatter(register) == 12
    assert capsys.readouterr().err == ""


def test_anything_else_is_passed_on_whole_and_in_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def register() -> None:
        sys.stderr.write("WARNING: a slow store\n" + ROUTINE + "Created version 'x' of a thing.\n")

    _without_chatter(register)
    assert capsys.readouterr().err == "WARNING: a slow store\nCreated version 'x' of a thing.\n"


def test_what_a_failing_call_printed_is_passed_on_before_its_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def register() -> None:
        sys.stderr.write(ROUTINE + "the store said no\n")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _without_chatter(register)
    assert capsys.readouterr().err == "the store said no\n"
