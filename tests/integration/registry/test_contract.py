"""The ModelRegistry contract: InMemoryModelRegistry and MlflowModelRegistry (SQLite store)
behave the same for versions, aliases, tags, runs, missing models and malformed input."""

from __future__ import annotations

import time

import pytest

from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.application.describe_model import DescribeModel, DescribeModelCommand
from sentiment.domain.errors import ModelNotFoundError, RegistryError, RegistryInputError
from sentiment.domain.metrics import evaluate
from sentiment.domain.model import DatasetInfo, ModelVersion, ParamValue
from sentiment.domain.ports import ModelRegistry
from sentiment.domain.promotion import CHAMPION, EVENT_TAG_PREFIX, GATE, AliasEvent
from tests.integration.registry.conftest import MakeRegistry

DATA = DatasetInfo("toy", "memory://toy", "d1g3st", 200, 0, {"negative": 100, "positive": 100})
TEXTS = ["What a great film!", "Terrible, boring, awful.", "It was fine, I guess."]
METRICS = evaluate(["negative", "positive"], ["negative", "negative"])


def register(
    registry: ModelRegistry, classifier: SklearnClassifier, dataset: bool = True
) -> tuple[ModelVersion, str]:
    with registry.start_run() as run:
        if dataset:
            run.log_dataset(DATA)
        run.log_evaluation(METRICS)
        version = run.register(classifier)
        return version, run.run_id


def test_a_model_without_versions(make_registry: MakeRegistry) -> None:
    registry = make_registry("Empty")
    assert registry.list_versions() == []
    for call in (
        registry.latest_version,
        lambda: registry.get_version("1"),
        lambda: registry.get_by_alias("champion"),
        lambda: registry.set_alias("champion", "1"),
        lambda: registry.delete_alias("champion"),
        lambda: registry.set_tags("1", {"a": "b"}),
        lambda: registry.load("1"),
    ):
        with pytest.raises(ModelNotFoundError):
            call()


def test_versions_are_numbered_in_order_with_their_run(
    make_registry: MakeRegistry, tiny_classifier: SklearnClassifier
) -> None:
    registry = make_registry("Numbered")
    before = time.time()
    first, first_run = register(registry, tiny_classifier)
    second, second_run = register(registry, tiny_classifier, dataset=False)
    assert (first.version, second.version) == ("1", "2")
    assert first_run != second_run
    versions = registry.list_versions()
    assert [v.version for v in versions] == ["1", "2"]
    assert [v.run_id for v in versions] == [first_run, second_run]
    assert all(v.name == registry.model_name for v in versions)
    assert all(v.run_status == "FINISHED" for v in versions)
    assert all(v.metrics["f1_macro"] == pytest.approx(METRICS.macro_f1) for v in versions)
    assert before - 1 <= versions[0].created_at <= versions[1].created_at <= time.time() + 1
    assert registry.latest_version().version == "2"
    # Registration tags every version with its model type, and its data when it was logged.
    assert versions[0].tags == {"model_type": "tfidf-lr", "dataset_digest": "d1g3st"}
    assert versions[0].dataset_digest == "d1g3st"
    assert versions[1].tags == {"model_type": "tfidf-lr"}
    assert versions[1].dataset_digest == ""
    assert registry.get_version("1") == versions[0]


def test_a_version_number_may_be_written_loosely(shared_registry: ModelRegistry) -> None:
    registry = shared_registry
    for asked, found in (("01", "1"), (" 2 ", "2"), ("002", "2")):
        assert registry.get_version(asked).version == found
        registry.set_alias("pinned", asked)
        assert registry.get_by_alias("pinned").version == found
        registry.set_tags(asked, {"seen": asked})
        assert registry.get_version(found).tags["seen"] == asked
    registry.delete_alias("pinned")


@pytest.mark.parametrize("version", ["3", "0", "-1", "abc", "", "1.0", "³", "v1"])
def test_missing_versions_are_not_found(shared_registry: ModelRegistry, version: str) -> None:
    registry = shared_registry
    with pytest.raises(ModelNotFoundError):
        registry.get_version(version)
    with pytest.raises(ModelNotFoundError):
        registry.load(version)
    with pytest.raises(ModelNotFoundError):
        registry.set_tags(version, {"a": "b"})
    with pytest.raises(ModelNotFoundError):
        registry.set_alias("x", version)


def register_and_fail(registry: ModelRegistry, classifier: SklearnClassifier) -> None:
    with registry.start_run() as run:
        run.register(classifier)
        assert registry.get_version("1").run_status == "RUNNING"
        run.log_evaluation(METRICS, prefix="late_")
        raise RuntimeError("boom")


def test_the_runs_status_and_metrics_are_read_live(
    make_registry: MakeRegistry, tiny_classifier: SklearnClassifier
) -> None:
    registry = make_registry("Live")
    with pytest.raises(RuntimeError, match="boom"):
        register_and_fail(registry, tiny_classifier)
    version = registry.get_version("1")
    assert version.run_status == "FAILED"
    assert not version.run_finished
    assert version.metrics["late_accuracy"] == pytest.approx(METRICS.accuracy)


def test_an_alias_points_at_one_version_and_moves(
    make_registry: MakeRegistry, tiny_classifier: SklearnClassifier
) -> None:
    registry = make_registry("Aliases")
    register(registry, tiny_classifier)
    register(registry, tiny_classifier)
    registry.set_alias("champion", "1")
    registry.set_alias("champion", "1")  # idempotent
    registry.set_alias("shadow", "1")
    assert registry.get_by_alias("champion").aliases == ("champion", "shadow")
    assert [v.aliases for v in registry.list_versions()] == [("champion", "shadow"), ()]

    registry.set_alias("champion", "2")
    assert registry.get_by_alias("champion").version == "2"
    assert [v.aliases for v in registry.list_versions()] == [("shadow",), ("champion",)]
    assert registry.latest_version().aliases == ("champion",)

    registry.delete_alias("shadow")
    with pytest.raises(ModelNotFoundError):
        registry.get_by_alias("shadow")
    with pytest.raises(ModelNotFoundError):
        registry.delete_alias("shadow")
    assert registry.get_version("1").aliases == ()


@pytest.mark.parametrize("alias", ["v3", "V12", "3", "has space", "", "-dash", "a/b", "latest"])
def test_malformed_aliases_are_refused_everywhere(
    shared_registry: ModelRegistry, alias: str
) -> None:
    registry = shared_registry
    for call in (
        lambda: registry.set_alias(alias, "1"),
        lambda: registry.get_by_alias(alias),
        lambda: registry.delete_alias(alias),
    ):
        with pytest.raises(RegistryInputError, match="invalid alias"):
            call()
    assert registry.get_version("1").aliases == ()


def test_tags_merge_overwrite_and_stay_on_their_version(
    make_registry: MakeRegistry, tiny_classifier: SklearnClassifier
) -> None:
    registry = make_registry("Tags")
    register(registry, tiny_classifier)
    register(registry, tiny_classifier)
    registry.set_tags("1", {"reviewed": "no", "owner": "ml team", "champion.at": "now"})
    registry.set_tags("1", {"reviewed": "yes", "note": ""})
    registry.set_alias("champion", "1")
    expected = {"reviewed": "yes", "owner": "ml team", "champion.at": "now", "note": ""}
    for seen in (registry.get_version("1"), registry.get_by_alias("champion")):
        assert {k: seen.tags[k] for k in expected} == expected
    assert registry.list_versions()[0].tags == registry.get_version("1").tags
    assert "reviewed" not in registry.get_version("2").tags


@pytest.mark.parametrize(
    "tags", [{"ok": "1", "bad\nkey": "v"}, {"ok": "1", "../up": "v"}, {"ok": "x" * 5001}]
)
def test_malformed_tags_are_refused_before_any_is_written(
    shared_registry: ModelRegistry, tags: dict[str, str]
) -> None:
    registry = shared_registry
    with pytest.raises(RegistryInputError):
        registry.set_tags("1", tags)
    assert "ok" not in registry.get_version("1").tags
    with registry.start_run() as run, pytest.raises(RegistryInputError):
        run.set_tags(tags)


def test_a_loaded_version_predicts_like_the_registered_classifier(
    shared_registry: ModelRegistry, tiny_classifier: SklearnClassifier
) -> None:
    loaded = shared_registry.load("01")
    assert loaded.classes == tiny_classifier.classes
    assert loaded.model_type == "tfidf-lr"
    for a, b in zip(loaded.predict(TEXTS), tiny_classifier.predict(TEXTS), strict=True):
        assert a.label == b.label
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)


def test_two_models_in_one_store_do_not_see_each_other(
    make_registry: MakeRegistry, tiny_classifier: SklearnClassifier
) -> None:
    first, second = make_registry("Left"), make_registry("Right")
    register(first, tiny_classifier)
    register(first, tiny_classifier)
    register(second, tiny_classifier)
    first.set_alias("champion", "2")
    second.set_tags("1", {"side": "right"})
    assert [v.version for v in first.list_versions()] == ["1", "2"]
    assert [v.version for v in second.list_versions()] == ["1"]
    with pytest.raises(ModelNotFoundError):
        second.get_by_alias("champion")
    assert "side" not in first.get_version("1").tags


@pytest.mark.parametrize("evaluation_first", [False, True], ids=["training-first", "eval-first"])
def test_a_version_records_its_training_data_beside_evaluation_data(
    make_registry: MakeRegistry, tiny_classifier: SklearnClassifier, evaluation_first: bool
) -> None:
    registry = make_registry(f"TwoDatasets{int(evaluation_first)}")
    held_out = DatasetInfo("official", "memory://official", "3v4l", 50, 1, {"negative": 25})
    logs = [(DATA, "training"), (held_out, "evaluation")]
    with registry.start_run() as run:
        for info, context in logs[::-1] if evaluation_first else logs:
            run.log_dataset(info, context)
        version = run.register(tiny_classifier)
    assert version.dataset_digest == DATA.digest
    assert registry.get_version(version.version).dataset_digest == DATA.digest


def test_a_hand_edited_event_tag_is_kept_as_written_and_read_as_unreadable(
    make_registry: MakeRegistry, tiny_classifier: SklearnClassifier
) -> None:
    registry = make_registry("Edited")
    version, _ = register(registry, tiny_classifier)
    good = AliasEvent(CHAMPION, version.version, GATE, 1_800_000_000.0, reason="gated")
    registry.set_tags(version.version, good.to_tags())
    corrupt = '{"alias":"champion","action":"promote","at":Infinity}'
    registry.set_tags(version.version, {EVENT_TAG_PREFIX + "1": corrupt})

    described = DescribeModel(registry).execute(DescribeModelCommand())

    [stored] = described.versions
    assert stored.tags[EVENT_TAG_PREFIX + "1"] == corrupt
    assert [(e.action, e.reason) for e in described.history] == [(GATE, "gated")]
    assert described.unreadable == ((version.version, EVENT_TAG_PREFIX + "1"),)


def test_the_latest_version_is_the_highest_number(
    make_registry: MakeRegistry, tiny_classifier: SklearnClassifier
) -> None:
    registry = make_registry("Latest")
    for _ in range(3):
        register(registry, tiny_classifier, dataset=False)
    registry.set_alias("champion", "1")
    latest = registry.latest_version()
    assert (latest.version, latest.aliases) == ("3", ())
    assert latest == registry.get_version("3")


def test_a_missing_alias_is_named_in_the_error(shared_registry: ModelRegistry) -> None:
    registry = shared_registry
    for call in (lambda: registry.get_by_alias("absent"), lambda: registry.delete_alias("absent")):
        with pytest.raises(ModelNotFoundError) as raised:
            call()
        assert registry.model_name in str(raised.value)
        assert "@absent" in str(raised.value)


def test_an_alias_can_be_read_and_moved_while_alias_moves_are_locked(
    shared_registry: ModelRegistry,
) -> None:
    registry = shared_registry
    with registry.alias_lock():
        registry.set_alias("locked", "1")
        assert registry.get_by_alias("locked").version == "1"
        registry.set_alias("locked", "2")
        registry.delete_alias("locked")
    with pytest.raises(ModelNotFoundError):
        registry.get_by_alias("locked")


def test_a_param_once_logged_keeps_its_value(make_registry: MakeRegistry) -> None:
    registry = make_registry("Params")
    with registry.start_run() as run:
        run.log_params({"C": 1, "model_type": "tfidf-lr"})
        run.log_params({"C": 1, "folds": 3})  # the same value again, and new params: fine
        changes: list[dict[str, ParamValue]] = [
            {"C": 2},
            {"C": 1.0},
            {"seed": 7, "model_type": "x"},
        ]
        for changed in changes:
            with pytest.raises(RegistryError, match=r"(?i)changing param values is not allowed"):
                run.log_params(changed)
