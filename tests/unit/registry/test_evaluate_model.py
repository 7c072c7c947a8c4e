"""EvaluateModel on the in-memory registry: which version, which scores, which records."""

from __future__ import annotations

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.application.evaluate_model import EvaluateModel, EvaluateModelCommand
from sentiment.domain.errors import DatasetError, ModelNotFoundError, RegistryInputError
from sentiment.domain.model import LabelledDataset
from sentiment.domain.model_ref import parse_model_ref
from sentiment.domain.promotion import CHAMPION
from tests.support.port_fakes import InMemoryDatasetSource, RecordingProgress
from tests.support.registry_fakes import (
    BrokenArtifactRegistry,
    ScriptedClassifier,
    holdout,
    register,
)

DATA = holdout(20)


@pytest.fixture
def registry() -> InMemoryModelRegistry:
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA, wrong=2))
    register(registry, ScriptedClassifier(DATA, wrong=5))
    registry.set_alias(CHAMPION, "1")
    return registry


@pytest.mark.parametrize(
    ("ref", "version", "accuracy"),
    [
        ("@champion", "1", 0.9),
        ("2", "2", 0.75),
        ("latest", "2", 0.75),
        ("models:/SentimentAnalysisModel@champion", "1", 0.9),
        ("models:/SentimentAnalysisModel/2", "2", 0.75),
    ],
)
def test_the_reference_picks_the_version_scored(
    registry: InMemoryModelRegistry, ref: str, version: str, accuracy: float
) -> None:
    use_case = EvaluateModel(registry, InMemoryDatasetSource(DATA))
    result = use_case.execute(EvaluateModelCommand(parse_model_ref(ref)))
    assert result.model_version == version
    assert result.evaluation.accuracy == pytest.approx(accuracy)
    assert result.rows == 20
    assert result.evaluation.support == 20
    assert result.evaluation_run_id is None
    assert len(registry.runs) == 2  # no run without --log


def test_missing_and_foreign_models(registry: InMemoryModelRegistry) -> None:
    use_case = EvaluateModel(registry, InMemoryDatasetSource(DATA))
    with pytest.raises(ModelNotFoundError):
        use_case.execute(EvaluateModelCommand(parse_model_ref("@shadow")))
    with pytest.raises(ModelNotFoundError):
        use_case.execute(EvaluateModelCommand(parse_model_ref("7")))
    with pytest.raises(RegistryInputError, match="holds 'SentimentAnalysisModel'"):
        use_case.execute(EvaluateModelCommand(parse_model_ref("models:/Other@champion")))


def test_logging_links_the_run_and_the_version(registry: InMemoryModelRegistry) -> None:
    use_case = EvaluateModel(registry, InMemoryDatasetSource(DATA))
    result = use_case.execute(EvaluateModelCommand(parse_model_ref("@champion"), log=True))
    run = registry.runs[-1]
    assert result.evaluation_run_id == run.run_id
    assert run.status == "FINISHED"
    assert run.name == "evaluate-v1-holdout"
    assert run.tags["sentiment.run_kind"] == "evaluation"
    assert run.tags["sentiment.model_version"] == "1"
    assert run.tags["sentiment.model_name"] == "SentimentAnalysisModel"
    assert run.params == {"model_name": "SentimentAnalysisModel", "model_version": "1", "rows": 20}
    assert run.tags["sentiment.model_ref"] == "@champion"
    assert run.tags["sentiment.training_run_id"] == registry.get_version("1").run_id
    assert run.dataset_contexts == ["evaluation"]
    assert run.datasets[0].digest == "h0ld0ut"
    assert run.metrics["f1_macro"] == pytest.approx(result.evaluation.macro_f1)
    assert run.registered_version is None  # evaluating registers nothing
    tags = registry.get_version("1").tags
    assert tags["evaluation.run_id"] == run.run_id
    assert float(tags["evaluation.f1_macro"]) == pytest.approx(result.evaluation.macro_f1)
    assert tags["evaluation.data"] == "holdout (20 rows, digest h0ld0ut)"
    assert len(registry.list_versions()) == 2


def test_labels_the_model_does_not_know_are_refused(registry: InMemoryModelRegistry) -> None:
    numeric = LabelledDataset(("good", "bad"), ("1", "0"), name="numeric")
    use_case = EvaluateModel(registry, InMemoryDatasetSource(numeric))
    with pytest.raises(DatasetError, match="'0', '1' are unknown to version 1"):
        use_case.execute(EvaluateModelCommand(parse_model_ref("@champion"), log=True))
    assert len(registry.runs) == 2


def test_data_without_rows_is_refused(registry: InMemoryModelRegistry) -> None:
    empty = LabelledDataset((), (), name="empty", dropped=3)
    with pytest.raises(DatasetError, match="no row"):
        EvaluateModel(registry, InMemoryDatasetSource(empty)).execute(
            EvaluateModelCommand(parse_model_ref("1"))
        )


def test_the_cheapest_refusal_comes_first_the_reference_then_the_data_then_the_model() -> None:
    registry = BrokenArtifactRegistry()
    register(registry, ScriptedClassifier(DATA))
    registry.broken.add("1")
    missing = InMemoryDatasetSource(error=DatasetError("reviews.csv: no such file"))
    use_case = EvaluateModel(registry, missing)
    # A reference to no version: refused before the data is read.
    with pytest.raises(ModelNotFoundError):
        use_case.execute(EvaluateModelCommand(parse_model_ref("7")))
    assert missing.loads == 0
    # Data that cannot be read: refused before the model is loaded (the load fails here).
    with pytest.raises(DatasetError, match="no such file"):
        use_case.execute(EvaluateModelCommand(parse_model_ref("1")))
    assert missing.loads == 1
    with pytest.raises(DatasetError, match="no row with both a text and a label"):
        EvaluateModel(registry, InMemoryDatasetSource.of([])).execute(
            EvaluateModelCommand(parse_model_ref("1"))
        )


def test_one_class_only_is_scored_over_the_models_classes(registry: InMemoryModelRegistry) -> None:
    positives = LabelledDataset(
        tuple(t for t, y in zip(DATA.texts, DATA.labels, strict=True) if y == "positive"),
        ("positive",) * 10,
        name="positives",
    )
    result = EvaluateModel(registry, InMemoryDatasetSource(positives)).execute(
        EvaluateModelCommand(parse_model_ref("@champion"))
    )
    assert result.evaluation.labels == ("negative", "positive")
    assert result.evaluation.per_class["positive"].support == 10
    # A version that gets every one right still answers over both of its classes.
    register(registry, ScriptedClassifier(DATA))
    perfect = EvaluateModel(registry, InMemoryDatasetSource(positives)).execute(
        EvaluateModelCommand(parse_model_ref("3"))
    )
    assert perfect.evaluation.labels == ("negative", "positive")
    assert perfect.evaluation.macro_f1 == 0.5


def test_the_result_and_the_progress_name_everything(registry: InMemoryModelRegistry) -> None:
    data = LabelledDataset(DATA.texts, DATA.labels, name="holdout", digest="d1g", dropped=4)
    progress = RecordingProgress()
    result = EvaluateModel(
        registry, InMemoryDatasetSource(data), progress, clock=lambda: 1_800_000_000.0
    ).execute(EvaluateModelCommand(parse_model_ref("@champion"), log=True))
    version = registry.get_version("1")
    assert (result.model_name, result.model_version, result.aliases) == (
        "SentimentAnalysisModel",
        "1",
        (CHAMPION,),
    )
    assert result.training_run_id == version.run_id
    assert (result.rows, result.dropped_rows) == (20, 4)
    assert (result.dataset_name, result.dataset_digest) == ("holdout", "d1g")
    assert 0.0 <= result.duration_s < 60.0
    assert progress.events == [
        (kind, stage)
        for stage in ("data", "model", "predict", "log")
        for kind in ("started", "finished")
    ]
    assert progress.details == {
        "model": "SentimentAnalysisModel version 1",
        "data": "20 rows, 4 dropped, classes {'negative': 10, 'positive': 10}",
        "predict": "accuracy 0.9000, macro-F1 0.9000",
        "log": f"run {result.evaluation_run_id}",
    }
    tags = registry.get_version("1").tags
    assert tags["evaluation.accuracy"] == "0.9"
    assert tags["evaluation.at"] == "2027-01-15T08:00:00.000Z"


def test_unknown_labels_are_named_with_the_ones_the_model_predicts(
    registry: InMemoryModelRegistry,
) -> None:
    numeric = LabelledDataset(("good",), ("1",), name="numeric")
    with pytest.raises(DatasetError, match="which predicts 'negative', 'positive'"):
        EvaluateModel(registry, InMemoryDatasetSource(numeric)).execute(
            EvaluateModelCommand(parse_model_ref("1"))
        )
