"""The evaluate and registry CLIs in process, on a container whose registry is overridden with
the in-memory adapter: messages and exit codes for every refusal."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
from pathlib import Path

import pytest
from dependency_injector import providers

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.application.gate_candidate import GateCandidate, GateCandidateCommand
from sentiment.domain.model import ModelVersion
from sentiment.domain.promotion import PromotionPolicy
from sentiment.entrypoints import evaluate, registry
from sentiment.entrypoints.container import Container
from tests.support.data import sample_rows, to_dataset, write_csv

HOLDOUT = to_dataset(sample_rows(100, seed=41), "holdout")


@pytest.fixture
def models(tiny_classifier: SklearnClassifier) -> InMemoryModelRegistry:
    """Version 1 champion (gated), version 2 challenger (below a floor of 0.99)."""
    memory = InMemoryModelRegistry(model_name="SentimentAnalysisModel")
    for floor in (0.5, 0.99):
        version = memory.add(tiny_classifier, {"f1_macro": 0.8}).version
        GateCandidate(memory, PromotionPolicy(0.0, floor)).execute(
            GateCandidateCommand(version, HOLDOUT)
        )
    return memory


def container_for(memory: InMemoryModelRegistry) -> Container:
    container = Container()
    container.registry.override(providers.Object(memory))
    return container


def call(
    main: object, memory: InMemoryModelRegistry, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    assert callable(main)
    code = main(list(args), container_for(memory))
    out, err = capsys.readouterr()
    return int(code), out, err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["promote", "1", "--reason", "again"], 3, "version 1 already holds @champion"),
        (["promote", "2", "--reason", "  "], 3, "needs a reason"),
        (["promote", "9", "--reason", "x"], 2, "has no version 9"),
        (["promote", "@shadow", "--reason", "x"], 2, "has no alias @shadow"),
        (["promote", "@v2", "--reason", "x"], 2, "invalid alias 'v2'"),
        (["promote", "two", "--reason", "x"], 2, "invalid model reference 'two'"),
        (["promote", "models:/Other/2", "--reason", "x"], 2, "this registry holds"),
        (
            ["promote", "models:/Other/2", "--reason", "x", "--model-name", "Mine"],
            2,
            "models:/Other/2 names the model 'Other', but --model-name says 'Mine'",
        ),
        (["rollback"], 3, "first champion in the history"),
        (["history", "--alias", "champoin"], 2, "has no alias @champoin: no version holds it"),
    ],
)
def test_registry_refusals(
    models: InMemoryModelRegistry,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    result = call(registry.main, models, capsys, *args)
    assert result[0] == code
    assert message in result[2]
    assert result[2].startswith("error: ")
    assert models.get_by_alias("champion").version == "1"


def test_registry_list_and_promote_output(
    models: InMemoryModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = call(registry.main, models, capsys, "list")
    assert code == 0
    assert out.splitlines()[0] == "SentimentAnalysisModel: 2 versions"
    assert "gate -> @challenger" in out
    code, out, _ = call(registry.main, models, capsys, "promote", "2", "--reason", "ok")
    assert code == 0
    assert out.splitlines() == [
        "@champion: version 1 -> version 2 (macro-F1 0.8000); reason recorded: ok",
        "@challenger removed: version 2 is the champion now",
    ]
    code, out, _ = call(registry.main, models, capsys, "rollback", "--reason", "no")
    assert (code, out.strip()) == (
        0,
        "@champion: version 2 -> version 1 (macro-F1 0.8000), rolled back to the previous "
        "champion; reason recorded: no",
    )


def test_promote_and_rollback_print_their_warnings(
    models: InMemoryModelRegistry,
    tiny_classifier: SklearnClassifier,
    capsys: pytest.CaptureFixture[str],
) -> None:
    weak = models.add(tiny_classifier, {"f1_macro": 0.3}).version
    code, out, err = call(
        registry.main, models, capsys, "promote", weak, "--reason", " weak,  but\tneeded "
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "@champion: version 1 -> version 3 (macro-F1 0.3000); reason recorded: weak, but needed",
        "warning: its macro-F1 0.3000 is below the floor 0.8000",
        "warning: its macro-F1 0.3000 is below champion v1's 0.8000 (each on its own held-out "
        "split)",
    ]
    key = "sentiment.alias_event.0000000000001"
    models.set_tags("2", {key: "{not json"})
    code, out, err = call(registry.main, models, capsys, "rollback")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "@champion: version 3 -> version 1 (macro-F1 0.8000), rolled back to the previous "
        "champion; reason recorded: rollback from version 3",
        f"warning: version 2: the alias event tag {key!r} cannot be read (edited by hand?); "
        "version 1 was chosen without it",
    ]


def test_the_first_champion_is_promoted_from_no_version(
    tiny_classifier: SklearnClassifier, capsys: pytest.CaptureFixture[str]
) -> None:
    memory = InMemoryModelRegistry(model_name="SentimentAnalysisModel")
    memory.add(tiny_classifier, {"f1_macro": 0.8})
    code, out, _ = call(registry.main, memory, capsys, "promote", "1", "--reason", "first")
    assert (code, out) == (
        0,
        "@champion: no version -> version 1 (macro-F1 0.8000); reason recorded: first\n",
    )


def test_list_and_history_as_json(
    models: InMemoryModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = call(registry.main, models, capsys, "list", "--json")
    expected = {
        "model": "SentimentAnalysisModel",
        "versions": [registry.version_json(v) for v in reversed(models.list_versions())],
    }
    assert (code, out) == (0, json.dumps(expected, indent=2) + "\n")
    assert [v["version"] for v in json.loads(out)["versions"]] == ["2", "1"]
    code, out, _ = call(registry.main, models, capsys, "history", "--json")
    assert code == 0
    document = json.loads(out)
    assert out == json.dumps(document, indent=2) + "\n"
    assert sorted(document) == ["history", "model"]
    assert [(e["alias"], e["version"], e["action"]) for e in document["history"]] == [
        ("champion", "1", "gate"),
        ("challenger", "2", "gate"),
    ]


class BrokenRegistry(InMemoryModelRegistry):
    """A registry failing with an error that is not the project's."""

    def list_versions(self) -> list[ModelVersion]:
        raise RuntimeError("boom")


def test_an_unexpected_error_prints_its_trace_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = call(registry.main, BrokenRegistry(), capsys, "list")
    assert (code, out) == (1, "")
    assert err.startswith("unexpected error:\nTraceback (most recent call last):\n")
    assert err.rstrip().endswith("RuntimeError: boom")


class ClosedPipe(io.StringIO):
    """Standard output whose reader went away (`registry history | head -1`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_is_left_to_exit_with_not_reported_as_an_unexpected_error(
    models: InMemoryModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdout", ClosedPipe())
        with pytest.raises(BrokenPipeError):
            registry.main(["history"], container_for(models))
    assert capsys.readouterr().err == ""


def test_registry_refuses_an_invalid_setting_in_one_line(
    models: InMemoryModelRegistry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_BATCH", "0")
    assert call(registry.main, models, capsys, "list") == (
        2,
        "",
        "error: invalid setting: max_batch (SENTIMENT_MAX_BATCH): "
        "Input should be greater than or equal to 1\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["promote", "2"], "the following arguments are required: --reason"),
    ],
)
def test_registry_usage_errors_exit_2(
    models: InMemoryModelRegistry,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    with pytest.raises(SystemExit) as exited:
        call(registry.main, models, capsys, *args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert models.get_by_alias("champion").version == "1"


def test_an_empty_registry(capsys: pytest.CaptureFixture[str]) -> None:
    empty = InMemoryModelRegistry()
    assert call(registry.main, empty, capsys, "list")[1] == (
        "SentimentAnalysisModel: no registered version\n"
    )
    assert "no recorded alias move" in call(registry.main, empty, capsys, "history")[1]
    code, _, err = call(registry.main, empty, capsys, "rollback")
    assert (code, err) == (3, "error: no version holds @champion: there is nothing to roll back\n")


@pytest.mark.parametrize("at", ["Infinity", "NaN", "1e300", '"soon"'])
def test_a_hand_edited_event_tag_is_skipped_with_a_warning_not_a_crash(
    models: InMemoryModelRegistry, capsys: pytest.CaptureFixture[str], at: str
) -> None:
    key = "sentiment.alias_event.0000000000001"
    models.set_tags("2", {key: f'{{"alias":"champion","action":"promote","at":{at}}}'})
    warning = (
        f"warning: version 2: the alias event tag {key!r} cannot be read (edited by hand?); it "
        "is left out of the history\n"
    )
    for args in (["history"], ["history", "--json"], ["list"]):
        code, out, err = call(registry.main, models, capsys, *args)
        assert (code, err) == (0, warning)
        assert "gate" in out  # the readable moves are all there
        assert "promote" not in out


def test_an_unreachable_registry_exits_1(
    models: InMemoryModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    models.set_reachable(False)
    code, _, err = call(registry.main, models, capsys, "list")
    assert (code, err) == (1, "error: SentimentAnalysisModel: the registry is unreachable\n")


def test_evaluate_prints_and_refuses(
    models: InMemoryModelRegistry, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "eval.csv", sample_rows(60, seed=42))
    code, out, err = call(evaluate.main, models, capsys, "--data", str(data), "--model", "2")
    assert code == 0, err
    assert "SentimentAnalysisModel version 2 (@challenger)" in out
    assert re.search(r"^rows +60 \(0 dropped\)$", out, re.MULTILINE)
    assert "model    ..." in err  # progress on stderr

    numeric = write_csv(tmp_path / "numeric.csv", [("good", "1"), ("bad", "0")])
    code, _, err = call(evaluate.main, models, capsys, "--data", str(numeric), "-q")
    assert code == 2
    assert err.startswith("error: ")  # one line, as nothing came before it under -q
    assert err.count("\n") == 1
    assert "'0', '1' are unknown to version 1" in err
    code, _, err = call(evaluate.main, models, capsys, "--data", str(data), "--model", "@nope")
    assert code == 2
    # The reference is checked before any stage starts (the data is not even read).
    assert err == "error: SentimentAnalysisModel has no alias @nope\n"
    code, _, err = call(evaluate.main, models, capsys, "--data", str(tmp_path / "no.csv"), "-q")
    assert code == 2
    assert err.startswith("error: ")
    assert "no.csv" in err
    code, _, err = call(
        evaluate.main,
        models,
        capsys,
        "--data",
        str(data),
        "--model",
        "models:/A/1",
        "--model-name",
        "B",
    )
    assert (code, err) == (2, "error: models:/A/1 names the model 'A', but --model-name says 'B'\n")
    code, _, err = call(evaluate.main, models, capsys, "--data", str(data), "--model", "nope")
    assert code == 2
    assert "did you mean @nope" in err


def test_evaluate_writes_its_json_and_prints_nothing_under_quiet(
    models: InMemoryModelRegistry,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = write_csv(tmp_path / "eval.csv", sample_rows(60, seed=42))
    for variable in ("MLFLOW_LOGGING_LEVEL", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    try:
        code, shown, _ = call(evaluate.main, models, capsys, "--data", str(data), "--model", "2")
        # Without -q: the table, no JSON file, MLflow's own logging left as it was.
        assert code == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.csv"]
        assert "MLFLOW_LOGGING_LEVEL" not in os.environ

        report = tmp_path / "reports" / "eval.json"
        code, out, err = call(
            evaluate.main, models, capsys, "--data", str(data), "--model", "2", "-q",
            "--output-json", str(report),
        )  # fmt: skip
        assert (code, out, err) == (0, "", "")
        assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
        assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    finally:
        mlflow_logger.setLevel(level)
    written = json.loads(report.read_text())
    assert (written["model_version"], written["aliases"]) == ("2", ["challenger"])
    assert (written["dataset"]["rows"], written["dataset"]["dropped_rows"]) == (60, 0)
    scores = written["metrics"]
    assert written["accuracy"] == scores["accuracy"]
    assert re.search(rf"^accuracy +{scores['accuracy']:.4f}$", shown, re.MULTILINE)
    assert re.search(rf"^macro-F1 +{scores['f1_macro']:.4f}$", shown, re.MULTILINE)


def test_evaluate_needs_data_and_says_so(
    models: InMemoryModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without --data, the settings' default (`imdb`, the training half) would be scored instead.
    with pytest.raises(SystemExit) as exited:
        call(evaluate.main, models, capsys, "--model", "1")
    assert exited.value.code == 2
    assert "the following arguments are required: --data" in capsys.readouterr().err


def test_evaluate_refuses_an_invalid_setting_in_one_line(
    models: InMemoryModelRegistry,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = write_csv(tmp_path / "eval.csv", sample_rows(60, seed=42))
    monkeypatch.setenv("SENTIMENT_MAX_BATCH", "0")
    code, out, err = call(evaluate.main, models, capsys, "--data", str(data))
    assert (code, out) == (2, "")
    assert err == (
        "error: invalid setting: max_batch (SENTIMENT_MAX_BATCH): "
        "Input should be greater than or equal to 1\n"
    )
