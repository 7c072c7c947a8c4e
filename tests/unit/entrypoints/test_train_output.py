"""What the training CLI tells its user of a finished run, without training anything: the
summary table (the version and its aliases, the rows, the gate's verdict, where to look in
MLflow), the --output-json document, the exit code of each kind of error and the settings the
command line lays over the environment."""

from __future__ import annotations

import dataclasses

import pytest

from sentiment.application.gate_candidate import GateCandidateResult
from sentiment.application.train_model import TrainModelResult
from sentiment.domain.errors import (
    ClassifierError,
    DatasetError,
    PromotionRefusedError,
    RegistryError,
    SentimentError,
)
from sentiment.domain.metrics import ClassMetrics, EvaluationMetrics
from sentiment.entrypoints.settings import Settings
from sentiment.entrypoints.train import (
    _exit_for,
    build_parser,
    result_json,
    settings_from,
    summary,
)

EVALUATION = EvaluationMetrics(
    labels=("negative", "positive"),
    accuracy=0.875,
    macro_f1=0.87444,
    per_class={
        "negative": ClassMetrics(precision=0.9, recall=0.85, f1=0.8743, support=40),
        "positive": ClassMetrics(precision=0.85, recall=0.9, f1=0.8746, support=40),
    },
    confusion_matrix=((34, 6), (4, 36)),
)
GATE = GateCandidateResult(
    candidate_version="3",
    promoted=False,
    alias="challenger",
    reason="macro-F1 0.8744 < champion 0.9000 + margin 0.0000",
    candidate_f1=0.87444,
    candidate_accuracy=0.875,
    champion_version="2",
    champion_f1=0.9,
    margin=0.0,
    floor=0.8,
    holdout_rows=80,
)
RESULT = TrainModelResult(
    run_id="abc123",
    model_name="SentimentAnalysisModel",
    model_version="3",
    metrics={"accuracy": 0.875, "f1_macro": 0.87444},
    evaluation=EVALUATION,
    params={"model_type": "tfidf-lr", "test_size": 0.2, "hp_C": 10.0},
    rows=402,
    dropped_rows=2,
    train_rows=320,
    test_rows=80,
    aliases=("challenger",),
    duration_s=12.34567,
    promotion=GATE,
)
MEMORY = Settings(registry="memory")


def table(text: str) -> dict[str, str]:
    """The summary's `key  value` lines as a mapping (the per-class keys are indented)."""
    rows = [line.strip().split("  ", 1) for line in text.splitlines()]
    return {key.strip(): value.strip() for key, value in rows}


# -- the summary ---------------------------------------------------------------------------------


def test_the_summary_names_the_version_its_aliases_the_rows_and_the_scores() -> None:
    rows = table(summary(RESULT, MEMORY))
    assert rows["model"] == "SentimentAnalysisModel version 3 (@challenger)"
    assert rows["run id"] == "abc123"
    assert rows["model type"] == "tfidf-lr"
    assert rows["rows"] == "402 (2 dropped), 320 train / 80 test"
    assert rows["accuracy"] == "0.8750"
    assert rows["macro-F1"] == "0.8744"
    assert rows["negative"] == "precision 0.9000  recall 0.8500  F1 0.8743  support 40"
    assert rows["duration"] == "12.3 s"
    assert "MLflow UI" not in rows  # the memory registry has no UI


def test_the_summary_lists_every_alias_and_none_when_there_is_none() -> None:
    both = dataclasses.replace(RESULT, aliases=("champion", "latest-good"))
    assert table(summary(both, MEMORY))["model"] == (
        "SentimentAnalysisModel version 3 (@champion, @latest-good)"
    )
    bare = dataclasses.replace(RESULT, aliases=())
    assert table(summary(bare, MEMORY))["model"] == "SentimentAnalysisModel version 3"


def test_the_summary_names_the_evaluation_data_when_there_was_no_split() -> None:
    separate = dataclasses.replace(RESULT, params={**RESULT.params, "eval_data": "imdb-test"})
    assert table(summary(separate, MEMORY))["rows"] == (
        "402 (2 dropped), 320 train / 80 test (imdb-test)"
    )


def test_the_summary_gives_the_gates_verdict_and_reason() -> None:
    kept = table(summary(RESULT, MEMORY))
    assert kept["promotion"] == f"kept as @challenger: {GATE.reason}"

    gate = dataclasses.replace(GATE, promoted=True, alias="champion", reason="first champion")
    promoted = dataclasses.replace(RESULT, promotion=gate)
    assert table(summary(promoted, MEMORY))["promotion"] == (
        "promoted to @champion: first champion"
    )

    ungated = dataclasses.replace(RESULT, promotion=None)
    assert "promotion" not in table(summary(ungated, MEMORY))


def test_the_summary_tells_how_to_open_a_local_store_in_the_mlflow_ui() -> None:
    local = Settings(tracking_uri="sqlite:///store/m.db", artifact_root="store/artifacts")
    assert table(summary(RESULT, local))["MLflow UI"] == (
        "mlflow ui --backend-store-uri sqlite:///store/m.db --default-artifact-root store/artifacts"
    )


@pytest.mark.parametrize("uri", ["http://mlflow:5000", "https://mlflow.example.org"])
def test_the_summary_gives_a_tracking_servers_address_as_it_is(uri: str) -> None:
    assert table(summary(RESULT, Settings(tracking_uri=uri)))["MLflow UI"] == uri


# -- --output-json -------------------------------------------------------------------------------


def test_the_json_document_holds_the_run_the_gate_and_the_matrix() -> None:
    document = result_json(RESULT)
    assert document == {
        "run_id": "abc123",
        "model_name": "SentimentAnalysisModel",
        "model_version": "3",
        "aliases": ["challenger"],
        "metrics": {"accuracy": 0.875, "f1_macro": 0.87444},
        "params": {"model_type": "tfidf-lr", "test_size": 0.2, "hp_C": 10.0},
        "confusion_matrix": {"labels": ["negative", "positive"], "matrix": [[34, 6], [4, 36]]},
        "dropped_rows": 2,
        "duration_s": 12.346,
        "promotion": {
            "promoted": False,
            "alias": "challenger",
            "reason": GATE.reason,
            "candidate_f1_macro": 0.87444,
            "champion_version": "2",
            "champion_f1_macro": 0.9,
            "margin": 0.0,
            "floor": 0.8,
            "holdout_rows": 80,
        },
    }


def test_the_json_document_of_an_ungated_run_has_no_promotion() -> None:
    assert result_json(dataclasses.replace(RESULT, promotion=None))["promotion"] is None


# -- exit codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (DatasetError("bad column"), 2),
        (ClassifierError("bad hyperparameter"), 2),
        (PromotionRefusedError("@champion moved from version 1 to version 3"), 3),
        (RegistryError("store down"), 1),
        (SentimentError("other"), 1),
    ],
)
def test_bad_data_or_settings_exit_2_a_refused_gate_3_anything_else_1(
    error: SentimentError, code: int
) -> None:
    assert _exit_for(error) == code


# -- settings ------------------------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Only the SENTIMENT_* settings a test sets."""
    import os

    for key in [k for k in os.environ if k.startswith("SENTIMENT_")]:
        monkeypatch.delenv(key)
    return monkeypatch


def test_options_override_the_environment_and_the_rest_is_kept(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("SENTIMENT_MODEL_TYPE", "nblr")
    environment.setenv("SENTIMENT_TEST_SIZE", "0.3")
    environment.setenv("SENTIMENT_HYPERPARAMETERS", '{"C": 3.0, "max_iter": 50}')
    args = build_parser().parse_args(
        ["--model-type", "tfidf-lr", "-p", "max_iter=70", "-p", "ngram_max=1"]
    )
    settings = settings_from(args)
    assert settings.model_type == "tfidf-lr"
    assert settings.test_size == 0.3  # not given: the environment's
    assert settings.hyperparameters == {"C": 3.0, "max_iter": 70, "ngram_max": 1}


def test_without_options_the_environment_applies(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("SENTIMENT_HYPERPARAMETERS", '{"C": 3.0}')
    environment.setenv("SENTIMENT_RANDOM_STATE", "9")
    settings = settings_from(build_parser().parse_args([]))
    assert settings.hyperparameters == {"C": 3.0}
    assert settings.random_state == 9
