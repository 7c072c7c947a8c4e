"""ReloadModel: follow the alias; swap only a version that loaded and passed its smoke test."""

from __future__ import annotations

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.application.backoff import Backoff
from sentiment.application.load_model import LoadModel, LoadModelCommand
from sentiment.application.reload_model import (
    LOAD_FAILED,
    SKIPPED,
    SWAPPED,
    UNCHANGED,
    ReloadCommand,
    ReloadModel,
)
from sentiment.application.serving import ServedModel
from sentiment.domain.errors import ModelLoadError, RegistryUnavailableError
from sentiment.domain.ports import Classifier
from sentiment.domain.promotion import CHAMPION
from tests.support.registry_fakes import (
    BrokenArtifactRegistry,
    ScriptedClassifier,
    holdout,
    register,
)

DATA = holdout(10)
FOLLOW = ReloadCommand(LoadModelCommand(alias=CHAMPION))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Setup:
    def __init__(self, registry: InMemoryModelRegistry | None = None) -> None:
        self.registry = registry or BrokenArtifactRegistry()
        self.clock = Clock()
        self.served = ServedModel(clock=self.clock)
        self.load = LoadModel(self.registry, clock=self.clock, probe_texts=DATA.texts[:3])
        self.reload = ReloadModel(
            self.load, self.served, Backoff(initial_s=10, max_s=60, jitter=0.0), self.clock
        )
        register(self.registry, ScriptedClassifier(DATA))
        self.registry.set_alias(CHAMPION, "1")
        self.served.swap(self.load.execute(FOLLOW.reference))

    def add(self) -> str:
        return register(self.registry, ScriptedClassifier(DATA, wrong=1)).version

    def serving(self) -> str | None:
        current = self.served.current
        return current.version if current else None


def test_nothing_moves_while_the_alias_stays() -> None:
    setup = Setup()
    first = setup.served.current
    result = setup.reload.execute(FOLLOW)
    assert (result.outcome, result.serving, result.candidate) == (UNCHANGED, "1", "1")
    assert setup.served.current is first


def test_a_moved_alias_is_loaded_checked_and_swapped_in() -> None:
    setup = Setup()
    old = setup.served.current
    setup.registry.set_alias(CHAMPION, setup.add())
    result = setup.reload.execute(FOLLOW)
    assert (result.outcome, result.previous, result.serving) == (SWAPPED, "1", "2")
    assert "serving version 2 instead of version 1" in result.message
    assert result.loaded is setup.served.current
    assert setup.serving() == "2"
    # A request that took the old model before the swap still holds it, whole.
    assert old is not None
    assert old.version == "1"
    assert old.classifier.predict(DATA.texts[:1])


def test_a_version_that_does_not_load_is_never_served() -> None:
    setup = Setup()
    assert isinstance(setup.registry, BrokenArtifactRegistry)
    setup.registry.broken.add(setup.add())
    setup.registry.set_alias(CHAMPION, "2")
    result = setup.reload.execute(FOLLOW)
    assert result.outcome == LOAD_FAILED
    assert result.message.startswith("version 2 is not served (still serving version 1): ")
    assert setup.serving() == "1"
    failure = setup.served.status().last_failure
    assert failure is not None
    assert (failure.attempt, failure.retry_in_s, failure.error_type) == (1, 10, "ModelLoadError")

    # Not retried before its backoff, unless forced; then it recovers once fixed.
    assert setup.reload.execute(FOLLOW).outcome == SKIPPED
    assert setup.reload.execute(ReloadCommand(FOLLOW.reference, force=True)).outcome == LOAD_FAILED
    assert setup.served.status().last_failure.attempt == 2  # type: ignore[union-attr]
    setup.registry.broken.clear()
    setup.clock.now += 21
    result = setup.reload.execute(FOLLOW)
    assert (result.outcome, setup.serving()) == (SWAPPED, "2")
    assert setup.served.status().last_failure is None


class Garbage(ScriptedClassifier):
    def predict(self, texts: object) -> list:  # type: ignore[type-arg]
        return []


def test_a_version_that_fails_its_smoke_test_is_never_served() -> None:
    setup = Setup()
    version = register(setup.registry, Garbage(DATA)).version
    setup.registry.set_alias(CHAMPION, version)
    result = setup.reload.execute(FOLLOW)
    assert result.outcome == LOAD_FAILED
    assert "failed its smoke test: 0 predictions for 3 texts" in result.message
    assert setup.serving() == "1"


def test_an_unreachable_registry_raises_and_the_model_serves_on() -> None:
    setup = Setup()
    setup.registry.set_reachable(False)
    with pytest.raises(RegistryUnavailableError):
        setup.reload.execute(FOLLOW)
    assert setup.serving() == "1"
    setup.registry.set_reachable(True)
    assert setup.reload.execute(FOLLOW).outcome == UNCHANGED


def test_the_same_version_under_new_facts_is_not_reloaded() -> None:
    setup = Setup()
    setup.registry.delete_alias(CHAMPION)
    setup.add()
    setup.registry.set_alias(CHAMPION, "1")
    setup.registry.set_alias("shadow", "1")
    loaded_before = setup.served.current
    result = setup.reload.execute(FOLLOW)
    assert result.outcome == UNCHANGED
    current = setup.served.current
    assert current is not None
    assert loaded_before is not None
    assert current.classifier is loaded_before.classifier  # no second load
    assert current.info.aliases == ("champion", "shadow")


def test_before_the_first_load_only_a_forced_check_loads() -> None:
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA))
    served = ServedModel()
    reload = ReloadModel(LoadModel(registry, probe_texts=DATA.texts[:2]), served, Backoff())
    assert reload.execute(FOLLOW).outcome == SKIPPED
    result = reload.execute(ReloadCommand(FOLLOW.reference, force=True))
    assert (result.outcome, result.serving, result.previous) == (SWAPPED, "1", None)


def test_without_the_alias_the_newest_finished_version_is_served() -> None:
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA))
    with registry.start_run() as run:  # a training killed after registering: run not finished
        run.register(ScriptedClassifier(DATA))
        resolved = LoadModel(registry).resolve(FOLLOW.reference)
    assert (resolved.version.version, resolved.resolved_by) == ("1", "latest")
    lone = InMemoryModelRegistry()
    with lone.start_run() as run:
        run.register(ScriptedClassifier(DATA))
        assert LoadModel(lone).resolve(FOLLOW.reference).version.version == "1"


def test_the_same_version_found_another_way_is_served_under_the_new_facts() -> None:
    setup = Setup()
    setup.registry.delete_alias(CHAMPION)  # now found as the newest version
    result = setup.reload.execute(FOLLOW)
    assert (result.outcome, result.message) == (UNCHANGED, "still version 1")
    assert (result.serving, result.previous, result.candidate) == ("1", "1", "1")
    current = setup.served.current
    assert current is not None
    assert (current.resolved_by, current.alias) == ("latest", None)
    setup.registry.set_alias(CHAMPION, "1")
    setup.reload.execute(FOLLOW)
    current = setup.served.current
    assert current is not None
    assert (current.resolved_by, current.alias) == ("alias", CHAMPION)


def test_a_failed_version_waits_out_its_backoff_to_the_second() -> None:
    setup = Setup()
    assert isinstance(setup.registry, BrokenArtifactRegistry)
    setup.registry.broken.add(setup.add())
    setup.registry.set_alias(CHAMPION, "2")
    failed = setup.reload.execute(FOLLOW)
    assert (failed.outcome, failed.error_type, failed.unexpected) == (
        LOAD_FAILED,
        "ModelLoadError",
        None,
    )
    assert (failed.serving, failed.previous, failed.candidate) == ("1", "1", "2")
    failure = setup.served.status().last_failure
    assert failure is not None
    assert (failure.message, failure.at) == (failed.message, 1000.0)

    setup.clock.now = 1004.0
    skipped = setup.reload.execute(FOLLOW)
    assert skipped.outcome == SKIPPED
    assert skipped.message == "version 2 failed to load 1 time(s); next attempt in 6.0 s"
    assert (skipped.serving, skipped.previous, skipped.candidate) == ("1", "1", "2")
    setup.clock.now = 1010.0  # the attempt is due at exactly this time
    assert setup.reload.execute(FOLLOW).outcome == LOAD_FAILED


def test_a_version_that_loads_in_the_end_starts_afresh_if_it_breaks_again() -> None:
    setup = Setup()
    assert isinstance(setup.registry, BrokenArtifactRegistry)
    setup.registry.broken.add(setup.add())
    setup.registry.set_alias(CHAMPION, "2")
    setup.reload.execute(FOLLOW)
    setup.registry.broken.clear()
    setup.clock.now += 10
    swapped = setup.reload.execute(FOLLOW)
    assert (swapped.outcome, swapped.serving, swapped.previous) == (SWAPPED, "2", "1")
    assert swapped.message.startswith("serving version 2 instead of version 1, loaded and checked")
    assert swapped.loaded is not None
    assert swapped.loaded.requested == FOLLOW.reference
    setup.registry.set_alias(CHAMPION, "1")
    assert setup.reload.execute(FOLLOW).outcome == SWAPPED
    setup.registry.broken.add("2")
    setup.registry.set_alias(CHAMPION, "2")
    assert setup.reload.execute(FOLLOW).outcome == LOAD_FAILED
    failure = setup.served.status().last_failure
    assert failure is not None
    assert (failure.attempt, failure.retry_in_s) == (1, 10)  # not the third attempt


class CrashingRegistry(InMemoryModelRegistry):
    """Its artifacts fail to load with whatever error it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.error: Exception | None = None

    def load(self, version: str) -> Classifier:
        if self.error is not None:
            raise self.error
        return super().load(version)


def test_an_unexpected_error_is_named_by_its_type_and_handed_over_whole() -> None:
    registry = CrashingRegistry()
    register(registry, ScriptedClassifier(DATA))
    served = ServedModel()
    reload = ReloadModel(LoadModel(registry, probe_texts=DATA.texts[:2]), served, Backoff())
    registry.error = RuntimeError("secret path /x")
    result = reload.execute(ReloadCommand(FOLLOW.reference, force=True))
    assert result.outcome == LOAD_FAILED
    assert result.message == (
        "version 1 is not served (nothing is served): "
        "unexpected RuntimeError while loading (see the server log)"
    )
    assert (result.error_type, result.unexpected) == ("RuntimeError", registry.error)
    assert (result.serving, result.previous, result.candidate) == (None, None, "1")
    registry.error = ModelLoadError("  ")
    result = reload.execute(ReloadCommand(FOLLOW.reference, force=True))
    assert result.message == "version 1 is not served (nothing is served): ModelLoadError"
    assert (result.error_type, result.unexpected) == ("ModelLoadError", None)
    registry.error = None
    result = reload.execute(ReloadCommand(FOLLOW.reference, force=True))
    assert result.outcome == SWAPPED
    assert result.message.startswith("serving version 1, loaded and checked in ")


def test_nothing_is_tried_before_the_first_load() -> None:
    result = ReloadModel(LoadModel(InMemoryModelRegistry()), ServedModel(), Backoff()).execute(
        FOLLOW
    )
    assert (result.outcome, result.serving, result.previous, result.candidate) == (
        SKIPPED,
        None,
        None,
        None,
    )
    assert result.message == "no model served yet: the startup loader is still trying"


def test_the_outcomes_are_the_words_the_api_and_the_metrics_publish() -> None:
    # POST /admin/reload's `outcome`, /model's `last_outcome` and the label of
    # sentiment_model_reload_checks: clients and dashboards match these words.
    assert (UNCHANGED, SWAPPED, LOAD_FAILED, SKIPPED) == (
        "unchanged",
        "swapped",
        "load_failed",
        "skipped",
    )


def test_only_a_failed_load_names_an_error_type() -> None:
    setup = Setup()
    assert isinstance(setup.registry, BrokenArtifactRegistry)
    unchanged = setup.reload.execute(FOLLOW)
    setup.registry.broken.add(setup.add())
    setup.registry.set_alias(CHAMPION, "2")
    failed = setup.reload.execute(FOLLOW)
    skipped = setup.reload.execute(FOLLOW)
    setup.registry.broken.clear()
    swapped = setup.reload.execute(ReloadCommand(FOLLOW.reference, force=True))
    outcomes = [(r.outcome, r.error_type, r.unexpected) for r in (unchanged, skipped, swapped)]
    assert outcomes == [(UNCHANGED, "", None), (SKIPPED, "", None), (SWAPPED, "", None)]
    assert (failed.outcome, failed.error_type) == (LOAD_FAILED, "ModelLoadError")


@pytest.mark.parametrize(("rand", "delay"), [(0.0, 5.0), (0.75, 12.5)])
def test_the_retry_of_a_failed_version_is_spread_by_the_backoff_jitter(
    rand: float, delay: float
) -> None:
    # Workers that all fail on the same version must not all download it again at once.
    setup = Setup()
    assert isinstance(setup.registry, BrokenArtifactRegistry)
    reload = ReloadModel(
        setup.load,
        setup.served,
        Backoff(initial_s=10, max_s=60, jitter=0.5),
        setup.clock,
        rand=lambda: rand,
    )
    setup.registry.broken.add(setup.add())
    setup.registry.set_alias(CHAMPION, "2")
    assert reload.execute(FOLLOW).outcome == LOAD_FAILED
    failure = setup.served.status().last_failure
    assert failure is not None
    assert failure.retry_in_s == delay
    skipped = reload.execute(FOLLOW)
    assert skipped.message == f"version 2 failed to load 1 time(s); next attempt in {delay:.1f} s"
    setup.clock.now += delay
    assert reload.execute(FOLLOW).outcome == LOAD_FAILED
