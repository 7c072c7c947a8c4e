"""LoadModel: which version is served, and what a broken artifact or registry does."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.application.load_model import (
    PROBE_TEXTS,
    LoadModel,
    LoadModelCommand,
)
from sentiment.domain.errors import (
    ClassifierError,
    ModelCrashError,
    ModelLoadError,
    ModelNotFoundError,
    RegistryUnavailableError,
)
from sentiment.domain.model import ModelVersion
from sentiment.domain.ports import Classifier
from tests.support.api import FixedClassifier, SwitchableRegistry


def registry_of(*classifiers: FixedClassifier) -> InMemoryModelRegistry:
    registry = InMemoryModelRegistry("M")
    for classifier in classifiers:
        registry.add(classifier, {"accuracy": 0.5})
    return registry


def test_the_alias_wins_over_newer_versions() -> None:
    first, second, third = FixedClassifier(), FixedClassifier(), FixedClassifier()
    registry = registry_of(first, second, third)
    registry.set_alias("champion", "2")

    loaded = LoadModel(registry, clock=lambda: 1234.0).execute(LoadModelCommand())

    assert loaded.version == "2"
    assert loaded.classifier is second
    assert loaded.resolved_by == "alias"
    assert loaded.alias == "champion"
    assert loaded.info.aliases == ("champion",)
    assert loaded.loaded_at == 1234.0
    assert loaded.load_seconds >= 0.0
    assert loaded.requested == LoadModelCommand(alias="champion", version=None)


def test_without_the_alias_the_newest_version_is_served() -> None:
    registry = registry_of(FixedClassifier(), FixedClassifier())
    registry.set_alias("challenger", "1")

    loaded = LoadModel(registry).execute(LoadModelCommand(alias="champion"))

    assert (loaded.version, loaded.resolved_by, loaded.alias) == ("2", "latest", None)


def test_a_pinned_version_overrides_the_alias() -> None:
    registry = registry_of(FixedClassifier(), FixedClassifier(), FixedClassifier())
    registry.set_alias("champion", "3")

    loaded = LoadModel(registry).execute(LoadModelCommand(alias="champion", version="1"))

    assert (loaded.version, loaded.resolved_by, loaded.alias) == ("1", "version", None)


def test_a_pinned_version_that_does_not_exist_is_not_replaced_by_another() -> None:
    registry = registry_of(FixedClassifier())

    with pytest.raises(ModelNotFoundError, match=r"no version '?7"):
        LoadModel(registry).execute(LoadModelCommand(version="7"))


def test_an_empty_registry_says_there_is_nothing_to_serve() -> None:
    with pytest.raises(ModelNotFoundError, match="no registered version yet"):
        LoadModel(InMemoryModelRegistry("M")).execute(LoadModelCommand())


def test_an_unreachable_registry_is_reported_as_such() -> None:
    registry = SwitchableRegistry(registry_of(FixedClassifier()), down=True)

    with pytest.raises(RegistryUnavailableError):
        LoadModel(registry).execute(LoadModelCommand())


class StatusRegistry(InMemoryModelRegistry):
    """Versions with the registry status MLflow gives a registration that is pending or failed;
    counts the artifact loads."""

    def __init__(self, statuses: dict[str, str]) -> None:
        super().__init__("M")
        self.statuses = statuses
        self.loads: list[str] = []

    def _with_status(self, version: ModelVersion) -> ModelVersion:
        return replace(version, status=self.statuses.get(version.version, version.status))

    def get_version(self, version: str) -> ModelVersion:
        return self._with_status(super().get_version(version))

    def get_by_alias(self, alias: str) -> ModelVersion:
        return self._with_status(super().get_by_alias(alias))

    def list_versions(self) -> list[ModelVersion]:
        return [self._with_status(v) for v in super().list_versions()]

    def load(self, version: str) -> Classifier:
        self.loads.append(version)
        return super().load(version)


@pytest.mark.parametrize("status", ["PENDING_REGISTRATION", "FAILED_REGISTRATION", ""])
@pytest.mark.parametrize("command", [LoadModelCommand(), LoadModelCommand(version="2")])
def test_a_version_the_registry_does_not_call_ready_is_never_loaded(
    status: str, command: LoadModelCommand
) -> None:
    registry = StatusRegistry({"2": status})
    for _ in range(2):
        registry.add(FixedClassifier(), {"accuracy": 0.5})
    registry.set_alias("champion", "2")
    with pytest.raises(ModelLoadError) as refused:
        LoadModel(registry).execute(command)
    assert str(refused.value) == (
        f"M version 2 is {status or 'of unknown status'} in the registry, not READY: "
        "it is not served"
    )
    assert registry.loads == []


def test_without_the_alias_the_newest_ready_version_is_served() -> None:
    registry = StatusRegistry({"3": "PENDING_REGISTRATION"})
    for _ in range(3):
        registry.add(FixedClassifier(), {"accuracy": 0.5})
    assert LoadModel(registry).execute(LoadModelCommand()).version == "2"
    # None is READY: the newest is chosen, and refused at load.
    registry.statuses.update({"1": "FAILED_REGISTRATION", "2": "FAILED_REGISTRATION"})
    assert LoadModel(registry).resolve(LoadModelCommand()).version.version == "3"
    with pytest.raises(ModelLoadError, match="version 3 is PENDING_REGISTRATION"):
        LoadModel(registry).execute(LoadModelCommand())
    assert registry.loads == ["2"]


def test_resolve_loads_nothing() -> None:
    classifier = FixedClassifier()
    registry = registry_of(classifier)

    resolved = LoadModel(registry).resolve(LoadModelCommand())

    assert (resolved.version.version, resolved.resolved_by) == ("1", "latest")
    assert classifier.calls == 0


def test_a_loaded_model_is_smoke_tested_on_the_probe_texts() -> None:
    classifier = FixedClassifier()
    LoadModel(registry_of(classifier)).execute(LoadModelCommand())
    assert classifier.texts == [PROBE_TEXTS]
    assert len(PROBE_TEXTS) >= 3


@pytest.mark.parametrize(
    ("classifier", "reason"),
    [
        (FixedClassifier(error=ClassifierError("boom")), "boom"),
        (FixedClassifier(error=ValueError("X has 10 features")), "ValueError"),
        (FixedClassifier({"negative": 0.5, "positive": 0.9}), "not a distribution"),
        (FixedClassifier({"negative": math.nan, "positive": 0.5}), "not a distribution"),
        (FixedClassifier({"negative": -0.5, "positive": 1.5}), "not a distribution"),
        # A sum off by more than the 1e-3 that rounding explains (0.9985).
        (FixedClassifier({"negative": 0.2985, "positive": 0.7}), "not a distribution"),
        (FixedClassifier({"negative": -math.inf, "positive": math.inf}), "not a distribution"),
        # Within the tolerance of the sum, yet a probability above 1.
        (FixedClassifier({"negative": 0.0, "positive": 1.0005}), "not a distribution"),
    ],
)
def test_a_model_that_fails_its_smoke_test_is_not_loaded(
    classifier: FixedClassifier, reason: str
) -> None:
    with pytest.raises(ModelLoadError, match=reason):
        LoadModel(registry_of(classifier)).execute(LoadModelCommand())


def test_a_model_crash_on_the_smoke_test_is_named_by_type_only_and_kept_as_the_cause() -> None:
    crash = ValueError("X has 10 features, /srv/models/secret.npz expects 12")
    with pytest.raises(ModelCrashError) as refused:
        LoadModel(registry_of(FixedClassifier(error=crash))).execute(LoadModelCommand())
    assert str(refused.value) == (
        "M version 1 failed its smoke test: unexpected ValueError from the "
        "model (see the server log)"
    )
    assert refused.value.__cause__ is crash
    # An error of ours keeps its message (and is no crash).
    with pytest.raises(ModelLoadError, match="failed its smoke test: not fitted yet") as ours:
        LoadModel(registry_of(FixedClassifier(error=ClassifierError("not fitted yet")))).execute(
            LoadModelCommand()
        )
    assert not isinstance(ours.value, ModelCrashError)


def test_a_model_predicting_labels_it_does_not_know_is_refused() -> None:
    class Liar(FixedClassifier):
        @property
        def classes(self) -> tuple[str, ...]:
            return ("neutral",)

    with pytest.raises(ModelLoadError, match=r"^M version 1 failed its smoke test: label"):
        LoadModel(registry_of(Liar())).execute(LoadModelCommand())


@pytest.mark.parametrize(
    "probabilities",
    [
        {"negative": 0.0, "positive": 1.0},  # certainty: both bounds included
        {"negative": 0.2995, "positive": 0.7},  # a sum off by rounding (under 1e-3) is accepted
        {"negative": 0.3005, "positive": 0.7},
    ],
)
def test_a_distribution_at_its_bounds_passes_the_smoke_test(
    probabilities: dict[str, float],
) -> None:
    loaded = LoadModel(registry_of(FixedClassifier(probabilities))).execute(LoadModelCommand())
    assert loaded.version == "1"


def test_a_loaded_model_says_when_and_how_fast_it_loaded() -> None:
    command = LoadModelCommand()
    loaded = LoadModel(registry_of(FixedClassifier()), clock=lambda: 1234.5).execute(command)
    assert loaded.loaded_at == 1234.5
    assert loaded.requested is command
    assert 0.0 <= loaded.load_seconds < 60.0


def test_a_loaded_model_is_named_after_its_registered_model() -> None:
    loaded = LoadModel(registry_of(FixedClassifier())).execute(LoadModelCommand())
    assert (loaded.name, loaded.version) == ("M", "1")
