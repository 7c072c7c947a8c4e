"""TrainModel against the in-memory registry: what it records, registers and refuses."""

from __future__ import annotations

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifierFactory
from sentiment.application.gate_candidate import GateCandidate
from sentiment.application.train_model import CHAMPION, TrainModel, TrainModelCommand
from sentiment.domain.errors import ClassifierError, DatasetError
from sentiment.domain.metrics import evaluate
from sentiment.domain.model import LabelledDataset
from sentiment.domain.promotion import CHALLENGER, PromotionPolicy
from sentiment.domain.split import evaluation_split, stratified_split
from tests.conftest import TINY_HYPERPARAMETERS
from tests.support.port_fakes import (
    InMemoryDatasetSource,
    KeywordClassifier,
    KeywordClassifierFactory,
    RecordingProgress,
    polar_rows,
)

STAGES = ["load", "split", "fit", "evaluate", "log", "register", "gate"]


def keyword_use_case(
    source: InMemoryDatasetSource,
    registry: InMemoryModelRegistry,
    factory: KeywordClassifierFactory | None = None,
    progress: RecordingProgress | None = None,
    margin: float = 0.0,
) -> TrainModel:
    """TrainModel with the quality gate (floor 0.8) the container gives it."""
    gate = GateCandidate(registry, PromotionPolicy(margin=margin, floor=0.8))
    return TrainModel(source, factory or KeywordClassifierFactory(), registry, progress, gate)


def assert_created_never_fitted(factory: KeywordClassifierFactory) -> None:
    """The use case made its classifier (so the model type was checked) and never fitted it."""
    (classifier,) = factory.created
    assert isinstance(classifier, KeywordClassifier)
    assert classifier.fitted_on is None


def test_trains_logs_and_registers_the_first_version_as_champion() -> None:
    registry = InMemoryModelRegistry()
    source = InMemoryDatasetSource.of(polar_rows(20), dropped=3)
    factory = KeywordClassifierFactory()

    result = keyword_use_case(source, registry, factory).execute(
        TrainModelCommand(
            "keyword", {"smoothing": 0.5}, test_size=0.25, random_state=7, run_name="r"
        )
    )

    assert (result.model_name, result.model_version) == ("SentimentAnalysisModel", "1")
    assert result.aliases == (CHAMPION,)
    assert (result.rows, result.dropped_rows, result.train_rows, result.test_rows) == (
        40,
        3,
        30,
        10,
    )
    assert result.duration_s > 0

    [run] = registry.runs
    assert run.status == "FINISHED"
    assert run.name == "r"
    assert run.run_id == result.run_id
    assert run.registered_version == "1"
    assert run.params == {
        "dataset_size": 40,
        "dropped_rows": 3,
        "train_size": 30,
        "eval_size": 10,
        "eval_overlap": 0,
        "model_type": "keyword",
        "test_size": 0.25,
        "random_state": 7,
        "hp_smoothing": 0.5,
    }
    assert dict(result.params) == run.params
    [info] = run.datasets
    assert (info.name, info.source, info.digest) == ("in-memory", "memory://tests", "digest-40")
    assert (info.rows, info.dropped) == (40, 3)
    assert dict(info.class_counts) == {"negative": 20, "positive": 20}

    # The metrics are those of the fitted classifier on the held-out side of the same split.
    dataset = source.load()
    split = stratified_split(dataset, 0.25, 7)
    [classifier] = factory.created
    assert isinstance(classifier, KeywordClassifier)
    assert classifier.fitted_on == (split.train.texts, split.train.labels)
    expected = evaluate(
        split.test.labels, [p.label for p in classifier.predict(split.test.texts)], dataset.classes
    )
    assert result.evaluation == expected
    assert result.metrics == expected.flat() == run.metrics
    assert result.metrics["accuracy"] == 1.0

    version = registry.get_by_alias(CHAMPION)
    assert version.version == "1"
    assert version.run_id == result.run_id
    assert version.dataset_digest == "digest-40"
    assert version.metrics == result.metrics
    assert registry.load("1") is classifier


def test_later_versions_do_not_take_the_champion_alias_without_beating_it() -> None:
    registry = InMemoryModelRegistry()
    # Both score 1.0 on the held-out split: a tie misses a margin of 0.01.
    use_case = keyword_use_case(InMemoryDatasetSource.of(polar_rows(10)), registry, margin=0.01)

    first = use_case.execute(TrainModelCommand("keyword"))
    second = use_case.execute(TrainModelCommand("keyword", random_state=1))

    assert (first.model_version, second.model_version) == ("1", "2")
    assert (first.aliases, second.aliases) == ((CHAMPION,), (CHALLENGER,))
    assert registry.get_by_alias(CHAMPION).version == "1"
    assert [v.version for v in registry.list_versions()] == ["1", "2"]
    assert [r.status for r in registry.runs] == ["FINISHED", "FINISHED"]
    assert first.run_id != second.run_id


def test_a_new_version_becomes_champion_when_no_version_holds_the_alias() -> None:
    registry = InMemoryModelRegistry()
    use_case = keyword_use_case(InMemoryDatasetSource.of(polar_rows(10)), registry)
    use_case.execute(TrainModelCommand("keyword"))
    registry.delete_alias(CHAMPION)

    result = use_case.execute(TrainModelCommand("keyword"))

    assert result.aliases == (CHAMPION,)
    assert registry.get_by_alias(CHAMPION).version == "2"


def test_progress_reports_every_stage_in_order() -> None:
    progress = RecordingProgress()
    keyword_use_case(
        InMemoryDatasetSource.of(polar_rows(10)), InMemoryModelRegistry(), progress=progress
    ).execute(TrainModelCommand("keyword"))

    expected = [(event, stage) for stage in STAGES for event in ("started", "finished")]
    assert progress.events == expected
    assert "20 rows, 0 dropped" in progress.details["load"]
    assert progress.details["split"] == "16 train / 4 test"
    assert "SentimentAnalysisModel version 1" in progress.details["register"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (InMemoryDatasetSource(error=DatasetError("data file not found: x.csv")), "not found"),
        (InMemoryDatasetSource.of([]), "no rows"),
        (InMemoryDatasetSource.of([], dropped=4), "all 4 rows"),
        (InMemoryDatasetSource.of([(f"t{i}", "positive") for i in range(10)]), "two classes"),
        (
            InMemoryDatasetSource.of([*polar_rows(10), ("meh", "neutral")]),
            "class 'neutral' has 1 example",
        ),
    ],
    ids=["unreadable", "empty", "all-dropped", "one-class", "class-too-small"],
)
def test_bad_data_is_refused_before_any_run_is_opened(
    source: InMemoryDatasetSource, message: str
) -> None:
    registry = InMemoryModelRegistry()
    factory = KeywordClassifierFactory()

    with pytest.raises(DatasetError, match=message):
        keyword_use_case(source, registry, factory).execute(TrainModelCommand("keyword"))

    assert registry.runs == []
    assert registry.list_versions() == []
    assert_created_never_fitted(factory)


def test_a_bad_test_size_is_refused_before_any_run_is_opened() -> None:
    registry = InMemoryModelRegistry()
    with pytest.raises(DatasetError, match="between 0 and 1"):
        keyword_use_case(InMemoryDatasetSource.of(polar_rows(5)), registry).execute(
            TrainModelCommand("keyword", test_size=1.0)
        )
    assert registry.runs == []


def test_an_unknown_model_type_is_refused_before_the_data_is_read() -> None:
    registry = InMemoryModelRegistry()
    source = InMemoryDatasetSource.of(polar_rows(5))
    with pytest.raises(ClassifierError, match="unknown model type"):
        keyword_use_case(source, registry).execute(TrainModelCommand("deep-transformer"))
    assert source.loads == 0
    assert registry.runs == []


def test_an_unknown_hyperparameter_is_refused_before_the_data_is_read() -> None:
    registry = InMemoryModelRegistry()
    source = InMemoryDatasetSource.of(polar_rows(5))
    use_case = TrainModel(source, SklearnClassifierFactory(), registry)
    with pytest.raises(ClassifierError, match="unknown hyperparameter"):
        use_case.execute(TrainModelCommand("nblr", hyperparameters={"Cee": 1.0}))
    assert source.loads == 0
    assert registry.runs == []


@pytest.mark.parametrize(
    "error", [RuntimeError("out of cheese"), ClassifierError("fit failed")], ids=repr
)
def test_a_failure_inside_the_run_marks_it_failed_and_registers_nothing(error: Exception) -> None:
    registry = InMemoryModelRegistry()
    factory = KeywordClassifierFactory(lambda hp: KeywordClassifier(hp, fail_with=error))

    with pytest.raises(type(error), match=str(error)):
        keyword_use_case(InMemoryDatasetSource.of(polar_rows(5)), registry, factory).execute(
            TrainModelCommand("keyword")
        )

    [run] = registry.runs
    assert run.status == "FAILED"
    assert run.params["model_type"] == "keyword"
    assert run.metrics == {}
    assert run.registered_version is None
    assert registry.list_versions() == []


def test_with_the_real_sklearn_factory_on_a_small_imdb_sample(
    small_dataset: LabelledDataset,
) -> None:
    registry = InMemoryModelRegistry()
    source = InMemoryDatasetSource(small_dataset)

    result = TrainModel(source, SklearnClassifierFactory(), registry).execute(
        TrainModelCommand("tfidf-lr", TINY_HYPERPARAMETERS)
    )

    assert result.model_version == "1"
    assert (result.train_rows, result.test_rows) == (240, 60)
    assert result.evaluation.labels == ("negative", "positive")
    assert result.params["model_type"] == "tfidf-lr"
    assert result.params["hp_n_features_log2"] == 16
    assert result.params["hp_ngram_max"] == 2
    assert set(result.metrics) >= {"accuracy", "f1_macro", "f1_positive", "recall_negative"}
    # Better than a coin on 60 held-out reviews, even from 240 training ones.
    assert result.metrics["accuracy"] > 0.6
    assert registry.runs[0].status == "FINISHED"
    loaded = registry.load("1")
    assert [p.label for p in loaded.predict(["An absolute masterpiece, I loved it."])] == [
        "positive"
    ]


# -- separate evaluation data (`--eval-data`): no split, every row trains ------------------------


def held_out_rows(n: int) -> list[tuple[str, str]]:
    """Texts the training rows of `polar_rows` do not hold, one word each side of the verdict."""
    rows = []
    for i in range(n):
        rows.append((f"a great wonderful story, take {i}", "positive"))
        rows.append((f"an awful boring story, take {i}", "negative"))
    return rows


def test_with_evaluation_data_it_trains_on_every_row_and_evaluates_on_that_data() -> None:
    registry = InMemoryModelRegistry()
    training = InMemoryDatasetSource.of(polar_rows(20))
    held = LabelledDataset(
        texts=tuple(t for t, _ in held_out_rows(6)),
        labels=tuple(label for _, label in held_out_rows(6)),
        name="official-test",
        source="memory://official",
        digest="digest-official",
    )
    evaluation = InMemoryDatasetSource(held)
    factory = KeywordClassifierFactory()
    progress = RecordingProgress()
    gate = GateCandidate(registry, PromotionPolicy(margin=0.0, floor=0.8))
    use_case = TrainModel(training, factory, registry, progress, gate, evaluation_source=evaluation)

    result = use_case.execute(TrainModelCommand("keyword", test_size=0.25, random_state=7))

    [classifier] = factory.created
    assert isinstance(classifier, KeywordClassifier)
    assert classifier.fitted_on is not None
    texts, labels = classifier.fitted_on
    # Every row, shuffled as a split's training side is (a CSV sorted by label must not reach
    # the model in that order).
    assert sorted(zip(texts, labels, strict=True)) == sorted(polar_rows(20))
    assert list(zip(texts, labels, strict=True)) != polar_rows(20)
    assert (result.train_rows, result.test_rows) == (40, 12)
    expected = evaluate(
        held.labels, [p.label for p in classifier.predict(held.texts)], ("negative", "positive")
    )
    assert result.evaluation == expected
    assert result.metrics["accuracy"] == 1.0

    [run] = registry.runs
    assert run.params["train_size"] == 40
    assert run.params["eval_size"] == 12
    assert run.params["eval_data"] == "official-test"
    assert run.params["eval_digest"] == "digest-official"
    assert run.params["eval_overlap"] == 0
    assert "test_size" not in run.params  # it did not decide anything
    assert run.dataset_contexts == ["training", "evaluation"]
    assert [d.digest for d in run.datasets] == ["digest-40", "digest-official"]
    assert run.tags["dataset_digest"] == "digest-40"
    assert run.tags["evaluation_dataset_digest"] == "digest-official"
    # The version records the data it was trained on, and the gate the data it was scored on.
    version = registry.get_by_alias(CHAMPION)
    assert version.dataset_digest == "digest-40"
    assert result.promotion is not None
    assert result.promotion.holdout_rows == 12
    assert (
        version.tags["champion.data"] == "official-test (12 rows, dataset digest digest-official)"
    )
    assert progress.details["split"] == "40 train / 12 test (official-test)"
    assert "evaluation data official-test: 12 rows" in progress.details["load"]
    assert evaluation.loads == 1


def test_test_texts_the_training_data_also_holds_are_counted() -> None:
    registry = InMemoryModelRegistry()
    leaked = [*held_out_rows(3), *polar_rows(2)]  # 4 of these 10 texts are training texts
    use_case = TrainModel(
        InMemoryDatasetSource.of(polar_rows(20)),
        KeywordClassifierFactory(),
        registry,
        RecordingProgress(),
        evaluation_source=InMemoryDatasetSource.of(leaked),
    )

    result = use_case.execute(TrainModelCommand("keyword"))

    assert result.params["eval_overlap"] == 4
    assert registry.runs[0].params["eval_overlap"] == 4


def test_a_split_counts_duplicated_texts_across_its_sides() -> None:
    rows = [*polar_rows(10), *polar_rows(10)]  # every text twice: most land on both sides
    progress = RecordingProgress()
    result = keyword_use_case(
        InMemoryDatasetSource.of(rows), InMemoryModelRegistry(), progress=progress
    ).execute(TrainModelCommand("keyword", test_size=0.5))
    dataset = InMemoryDatasetSource.of(rows).load()
    split = stratified_split(dataset, 0.5, 42)
    overlap = sum(1 for t in split.test.texts if t in set(split.train.texts))
    assert overlap > 0
    assert result.params["eval_overlap"] == overlap
    assert f"{overlap} test texts also in the training data" in progress.details["split"]


@pytest.mark.parametrize(
    ("evaluation", "message"),
    [
        (InMemoryDatasetSource.of([]), "evaluation data 'in-memory' has no rows"),
        (InMemoryDatasetSource.of([], dropped=3), r"no rows \(3 dropped"),
        (
            InMemoryDatasetSource.of([("so so", "neutral"), ("fine", "positive")]),
            "labels the training data lacks: 'neutral'",
        ),
        (InMemoryDatasetSource(error=DatasetError("data file not found: t.csv")), "t.csv"),
    ],
    ids=["empty", "all-dropped", "unknown-label", "unreadable"],
)
def test_bad_evaluation_data_is_refused_before_any_run_is_opened(
    evaluation: InMemoryDatasetSource, message: str
) -> None:
    registry = InMemoryModelRegistry()
    factory = KeywordClassifierFactory()
    use_case = TrainModel(
        InMemoryDatasetSource.of(polar_rows(5)),
        factory,
        registry,
        evaluation_source=evaluation,
    )

    with pytest.raises(DatasetError, match=message):
        use_case.execute(TrainModelCommand("keyword"))

    assert registry.runs == []
    assert_created_never_fitted(factory)


def test_evaluation_data_without_a_class_is_scored_over_every_training_class() -> None:
    registry = InMemoryModelRegistry()
    positives = [(t, y) for t, y in held_out_rows(6) if y == "positive"]
    held = LabelledDataset(
        texts=tuple(t for t, _ in positives),
        labels=tuple(y for _, y in positives),
        name="positives",
        digest="digest-positives",
    )
    factory = KeywordClassifierFactory()
    progress = RecordingProgress()
    use_case = TrainModel(
        InMemoryDatasetSource.of(polar_rows(20)),
        factory,
        registry,
        progress,
        evaluation_source=InMemoryDatasetSource(held),
    )
    result = use_case.execute(TrainModelCommand("keyword", random_state=3))

    [classifier] = factory.created
    assert isinstance(classifier, KeywordClassifier)
    assert classifier.fitted_on is not None
    # Shuffled by the command's random_state, the same way every time.
    training = InMemoryDatasetSource.of(polar_rows(20)).load()
    assert classifier.fitted_on[0] == evaluation_split(training, held, 3).train.texts
    assert result.evaluation.labels == ("negative", "positive")
    assert result.evaluation.per_class["negative"].support == 0
    assert result.evaluation.accuracy == 1.0
    assert 0.0 <= result.duration_s < 60.0
    assert progress.details["load"].endswith(
        "evaluation data positives: 6 rows, 0 dropped, classes {'positive': 6}"
    )
    assert progress.details["fit"] == "keyword on 40 texts"
    assert progress.details["evaluate"] == "accuracy 1.0000, macro-F1 0.5000"
    assert progress.details["log"] == ""


def test_the_gate_stage_reports_its_decision() -> None:
    progress = RecordingProgress()
    result = keyword_use_case(
        InMemoryDatasetSource.of(polar_rows(10)), InMemoryModelRegistry(), progress=progress
    ).execute(TrainModelCommand("keyword"))
    assert result.promotion is not None
    assert progress.details["gate"] == f"@champion: {result.promotion.reason}"
