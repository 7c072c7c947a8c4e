"""What the CLIs share: `run_guarded` turns a Ctrl-C into exit code 130 and one line, an
unexpected error into its trace and exit 1; progress lines, the model a reference names, the
`--output-json` file and `--quiet`."""

from __future__ import annotations

import getpass
import io
import json
import logging
import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from sentiment.application.progress import SilentProgress
from sentiment.domain.errors import DatasetError, RegistryInputError
from sentiment.domain.model_ref import parse_model_ref
from sentiment.entrypoints.cli_support import (
    StageProgress,
    actor,
    model_name_for,
    one_line,
    quiet_libraries,
    run_guarded,
    write_json,
)
from sentiment.entrypoints.settings import Settings


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


def test_an_unexpected_error_prints_its_trace_and_exits_1() -> None:
    def broken() -> str:
        raise ZeroDivisionError("division by zero")

    err = io.StringIO()
    progress = StageProgress(err, ["load", "fit"])
    progress.stage_started("load")
    assert run_guarded(broken, err, unexpected="training failed", progress=progress) == 1
    lines = err.getvalue().splitlines()
    assert lines[:2] == ["[1/2] load      ...", "training failed:"]
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"


def test_progress_numbers_the_stages_it_knows_and_times_each() -> None:
    out = io.StringIO()
    progress = StageProgress(out, ["load", "fit", "log"])
    progress.stage_started("fit")
    assert progress.line_open
    progress.stage_finished("fit", 12.34, "512,000 columns")
    progress.stage_started("gate")  # not announced: no number
    progress.stage_finished("gate", 0.5)
    assert not progress.line_open
    assert out.getvalue() == (
        "[2/3] fit       ...   12.3 s  512,000 columns\ngate     ...    0.5 s  \n"
    )


@pytest.mark.parametrize(
    ("reference", "option", "expected"),
    [
        ("models:/Other/2", None, "Other"),
        ("models:/Other@champion", "Other", "Other"),
        ("2", "Mine", "Mine"),
        ("@challenger", None, None),  # the settings' own
    ],
)
def test_the_model_a_command_works_on(
    reference: str, option: str | None, expected: str | None
) -> None:
    assert model_name_for(parse_model_ref(reference), option) == expected


def test_a_reference_and_a_model_name_that_disagree_are_refused() -> None:
    with pytest.raises(RegistryInputError, match="names the model 'Other', but --model-name"):
        model_name_for(parse_model_ref("models:/Other/2"), "Mine")


def test_the_output_json_file_is_written_with_its_folders_and_a_final_newline(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "er" / "summary.json"
    write_json(path, {"accuracy": 0.9, "labels": ["neg", "pos"]})
    text = path.read_text()
    assert text.endswith("}\n")
    assert json.loads(text) == {"accuracy": 0.9, "labels": ["neg", "pos"]}


def test_quiet_silences_mlflows_info_unless_its_level_was_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mlflow_logger = logging.getLogger("mlflow")
    monkeypatch.setattr(mlflow_logger, "level", logging.INFO)  # restored after the test
    for name in ("MLFLOW_LOGGING_LEVEL", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"):
        monkeypatch.setenv(name, "")  # so that what quiet_libraries sets is undone afterwards
        monkeypatch.delenv(name)
    quiet_libraries()
    assert mlflow_logger.level == logging.WARNING
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"

    monkeypatch.setattr(mlflow_logger, "level", logging.DEBUG)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "DEBUG")  # the operator's choices are kept
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "false")
    quiet_libraries()
    assert mlflow_logger.level == logging.DEBUG
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "DEBUG"
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "false"


def test_the_actor_is_the_os_user_and_the_tool() -> None:
    assert actor("registry") == f"{getpass.getuser()} (registry)"


def refusal(**settings: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Settings(**settings)  # type: ignore[arg-type]
    return caught.value


def test_a_refused_setting_is_named_with_its_variable_and_not_its_value() -> None:
    secret = "private-token-1"  # 15 characters: one short
    line = one_line(refusal(admin_token=secret, max_batch=0))
    assert line == (  # every problem, in the settings' order, without pydantic's links
        "max_batch (SENTIMENT_MAX_BATCH): Input should be greater than or equal to 1; "
        "admin_token (SENTIMENT_ADMIN_TOKEN): String should have at least 16 characters"
    )
    assert secret not in line


def test_a_refusal_of_the_settings_as_a_whole_is_its_message_alone() -> None:
    line = one_line(refusal(load_retry_initial_s=10, load_retry_max_s=1))
    assert line == "load_retry_initial_s (10.0) exceeds load_retry_max_s (1.0)"


def test_a_refusal_that_is_not_of_the_settings_names_no_variable() -> None:
    class Point(BaseModel):
        x: int

    with pytest.raises(ValidationError) as caught:
        Point.model_validate({"x": "left"})
    assert one_line(caught.value) == (
        "x: Input should be a valid integer, unable to parse string as an integer"
    )
