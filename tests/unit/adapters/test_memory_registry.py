"""InMemoryModelRegistry beyond the port (the port itself is checked against MLflow by the
contract tests in tests/integration/registry): the run records tests inspect, `add`,
`on_register`, and the outage `set_reachable` simulates, which every call must honour."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.domain.errors import RegistryError, RegistryUnavailableError
from sentiment.domain.metrics import evaluate
from sentiment.domain.model import DatasetInfo, ModelVersion
from sentiment.domain.ports import TrainingRun
from tests.support.port_fakes import KeywordClassifier

TRAINING = DatasetInfo("train", "memory://train", "tr41n", 40, 0, {"negative": 20})
HELD_OUT = DatasetInfo("held-out", "memory://held-out", "h3ld", 10, 0, {"negative": 5})
METRICS = evaluate(["negative", "positive"], ["negative", "negative"])


def fitted() -> KeywordClassifier:
    classifier = KeywordClassifier()
    classifier.fit(["good film", "bad film"], ["positive", "negative"])
    return classifier


def test_a_run_keeps_what_it_logged_in_its_record() -> None:
    registry = InMemoryModelRegistry()
    with registry.start_run("r1") as run:
        run.log_params({"C": 1.0, "model_type": "keyword"})
        run.log_params({"C": 1.0, "folds": 3})
        run.log_dataset(HELD_OUT, "evaluation")
        run.log_dataset(TRAINING)
        run.log_dataset(HELD_OUT, "official")
        run.set_tags({"sentiment.run_kind": "training"})
        run.log_evaluation(METRICS, prefix="holdout_")
        version = run.register(fitted())
        [record] = registry.runs
        assert record.status == "RUNNING"
    assert (record.run_id, record.name, record.status) == (run.run_id, "r1", "FINISHED")
    assert record.params == {"C": 1.0, "model_type": "keyword", "folds": 3}
    assert record.datasets == [HELD_OUT, TRAINING, HELD_OUT]
    assert record.dataset_contexts == ["evaluation", "training", "official"]
    # The training data's digest names the run; other data is recorded under its context.
    assert record.tags == {
        "dataset_digest": "tr41n",
        "official_dataset_digest": "h3ld",
        "sentiment.run_kind": "training",
    }
    assert record.evaluation == METRICS
    assert record.metrics == {f"holdout_{k}": v for k, v in METRICS.flat().items()}
    assert record.registered_version == version.version == "1"
    assert version.dataset_digest == "tr41n"


def test_a_batch_that_would_change_a_param_is_refused_whole() -> None:
    registry = InMemoryModelRegistry()
    with registry.start_run() as run:
        run.log_params({"C": 1, "model_type": "keyword"})
        with pytest.raises(RegistryError, match=r"C was 1, not 1\.0"):
            run.log_params({"folds": 3, "C": 1.0})
    assert registry.runs[0].params == {"C": 1, "model_type": "keyword"}


def test_each_run_is_recorded_with_an_id_of_its_own() -> None:
    registry = InMemoryModelRegistry()
    ids = []
    for name in ("a", None):
        with registry.start_run(name) as run:
            ids.append(run.run_id)

    def failing_run() -> None:
        with registry.start_run("b") as run:
            ids.append(run.run_id)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_run()
    assert [(r.run_id, r.name, r.status) for r in registry.runs] == [
        (ids[0], "a", "FINISHED"),
        (ids[1], None, "FINISHED"),
        (ids[2], "b", "FAILED"),
    ]
    assert len(set(ids)) == 3


def test_add_registers_a_classifier_outside_any_training_run() -> None:
    registry = InMemoryModelRegistry("Direct")
    classifier = fitted()
    first = registry.add(classifier, {"f1_macro": 0.9})
    second = registry.add(classifier)
    assert (first.name, first.version, second.version) == ("Direct", "1", "2")
    assert first.metrics == {"f1_macro": 0.9}
    assert second.metrics == {}
    assert registry.get_version("1").metrics == {"f1_macro": 0.9}
    assert [(r.name, r.status) for r in registry.runs] == [("direct", "FINISHED")] * 2
    assert registry.load("2") is classifier


def test_on_register_sees_each_version_while_its_run_is_still_open() -> None:
    registry = InMemoryModelRegistry()
    seen: list[ModelVersion] = []

    def record(version: ModelVersion) -> None:
        seen.append(version)
        assert registry.runs[-1].status == "RUNNING"

    registry.on_register = record
    registry.add(fitted())
    with registry.start_run() as run:
        run.register(fitted())
    registered = registry.list_versions()
    assert [(v.version, v.run_id) for v in seen] == [(v.version, v.run_id) for v in registered]
    assert len(seen) == 2


def open_a_run(registry: InMemoryModelRegistry) -> None:
    with registry.start_run():
        pass


def calls_on_the_registry(registry: InMemoryModelRegistry) -> list[Callable[[], object]]:
    return [
        lambda: open_a_run(registry),
        registry.list_versions,
        registry.latest_version,
        lambda: registry.get_version("1"),
        lambda: registry.get_by_alias("champion"),
        lambda: registry.set_alias("other", "1"),
        lambda: registry.delete_alias("champion"),
        lambda: registry.set_tags("1", {"a": "b"}),
        lambda: registry.load("1"),
        lambda: registry.add(fitted()),
    ]


def calls_in_a_run(run: TrainingRun) -> list[Callable[[], object]]:
    return [
        lambda: run.log_params({"a": 1}),
        lambda: run.log_dataset(TRAINING),
        lambda: run.set_tags({"a": "b"}),
        lambda: run.log_evaluation(METRICS),
        lambda: run.register(fitted()),
    ]


def test_while_unreachable_every_call_fails_and_nothing_is_written() -> None:
    registry = InMemoryModelRegistry("Away")
    registry.add(fitted())
    registry.set_alias("champion", "1")
    before = registry.list_versions()
    with registry.start_run("open") as run:
        registry.set_reachable(False)
        # What is missing is not known while the registry is away: unavailable, not "not found".
        empty = InMemoryModelRegistry("Away")
        empty.set_reachable(False)
        missing = [lambda: registry.get_by_alias("absent"), empty.latest_version]
        for call in [*calls_on_the_registry(registry), *calls_in_a_run(run), *missing]:
            with pytest.raises(RegistryUnavailableError, match="Away: the registry is unreachable"):
                call()
        registry.set_reachable(True)
    assert registry.list_versions() == before
    assert registry.get_by_alias("champion").version == "1"
    [_, record] = registry.runs
    assert (record.name, record.params, record.tags, record.metrics) == ("open", {}, {}, {})
    assert (record.datasets, record.evaluation, record.registered_version) == ([], None, None)


def test_once_reachable_again_every_call_works() -> None:
    registry = InMemoryModelRegistry()
    registry.set_reachable(False)
    registry.set_reachable(True)
    registry.add(fitted())
    registry.set_alias("champion", "1")
    for call in calls_on_the_registry(registry):
        call()
    with registry.start_run() as run:
        for call in calls_in_a_run(run):
            call()
