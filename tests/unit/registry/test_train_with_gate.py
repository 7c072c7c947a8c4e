"""TrainModel with the quality gate: aliases only after a finished run and a finished gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.application.gate_candidate import GateCandidate
from sentiment.application.train_model import TrainModel, TrainModelCommand, TrainModelResult
from sentiment.domain.errors import PromotionRefusedError, RegistryUnavailableError
from sentiment.domain.model import ModelVersion, ParamValue, Prediction
from sentiment.domain.ports import Classifier, ClassifierFactory
from sentiment.domain.promotion import CHALLENGER, CHAMPION, PromotionPolicy
from tests.support.port_fakes import InMemoryDatasetSource
from tests.support.registry_fakes import Clock, InterferingRegistry, holdout

DATA = holdout(60)


class MemorizingClassifier(Classifier):
    """Learns each training text's label; on unseen texts says `guess` (or the label it saw
    most when `guess` is None)."""

    def __init__(self, guess: str | None) -> None:
        self._guess = guess
        self._seen: dict[str, str] = {}

    @property
    def model_type(self) -> str:
        return "memorizing"

    @property
    def classes(self) -> tuple[str, ...]:
        return ("negative", "positive")

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        return {}

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self._seen = dict(zip(texts, labels, strict=True))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        out = []
        for text in texts:
            # Unseen texts: the right answer for "review N" with even N is "negative".
            truth = "negative" if int(text.split()[-1]) % 2 == 0 else "positive"
            label = self._seen.get(text, self._guess or truth)
            other = "positive" if label == "negative" else "negative"
            out.append(Prediction(label, {label: 0.8, other: 0.2}))
        return out


class Factory(ClassifierFactory):
    def __init__(self, guess: str | None) -> None:
        self.guess = guess

    @property
    def model_types(self) -> tuple[str, ...]:
        return ("memorizing",)

    def create(
        self, model_type: str, hyperparameters: Mapping[str, ParamValue] | None = None
    ) -> Classifier:
        return MemorizingClassifier(self.guess)


def train(
    registry: InMemoryModelRegistry, guess: str | None, floor: float = 0.8
) -> TrainModelResult:
    use_case = TrainModel(
        InMemoryDatasetSource(DATA),
        Factory(guess),
        registry,
        gate=GateCandidate(registry, PromotionPolicy(0.0, floor), Clock()),
    )
    return use_case.execute(TrainModelCommand("memorizing", test_size=0.5, actor="ci"))


def test_a_perfect_first_model_is_champion_a_constant_one_is_challenger() -> None:
    registry = InMemoryModelRegistry()
    first = train(registry, guess=None)
    assert first.aliases == (CHAMPION,)
    assert first.promotion is not None
    assert first.promotion.promoted
    assert first.promotion.holdout_rows == 30
    second = train(registry, guess="negative")
    assert second.aliases == (CHALLENGER,)
    assert second.promotion is not None
    assert "below the floor" in second.promotion.reason
    assert registry.get_by_alias(CHAMPION).version == "1"
    tags = registry.get_version("2").tags
    assert "test split (test_size 0.5, random_state 42, 30 rows" in tags["challenger.data"]
    assert tags["challenger.by"] == "ci"


def test_without_a_gate_nothing_gets_an_alias() -> None:
    registry = InMemoryModelRegistry()
    use_case = TrainModel(InMemoryDatasetSource(DATA), Factory(None), registry)
    result = use_case.execute(TrainModelCommand("memorizing", test_size=0.5))
    assert result.aliases == ()
    assert result.promotion is None
    assert registry.list_versions()[0].aliases == ()


def die(version: ModelVersion) -> None:
    """Right after registering, inside the run: as a process killed there would."""
    raise KeyboardInterrupt


def test_a_run_that_dies_after_registering_leaves_no_champion() -> None:
    registry = InMemoryModelRegistry()
    registry.on_register = die
    with pytest.raises(KeyboardInterrupt):
        train(registry, guess=None)
    (version,) = registry.list_versions()
    assert version.aliases == ()
    assert version.run_status == "FAILED"


def test_a_gate_that_cannot_finish_says_the_version_was_registered() -> None:
    registry = InMemoryModelRegistry()
    # The registry goes away right after registering: the run still finishes, the gate cannot.
    registry.on_register = lambda version: registry.set_reachable(False)
    with pytest.raises(RegistryUnavailableError, match="version 1 was registered but the quality"):
        train(registry, guess=None)
    registry.set_reachable(True)
    (version,) = registry.list_versions()
    assert version.aliases == ()
    assert version.run_status == "FINISHED"
    assert registry.runs[0].tags["sentiment.run_kind"] == "training"


def test_a_gate_overtaken_by_another_move_is_a_refusal_and_the_version_stays_registered() -> None:
    registry = InterferingRegistry()
    train(registry, guess=None)  # v1: @champion
    train(registry, guess="negative")  # v2: @challenger
    # While the third training's gate scores the champion, v1, someone moves @champion to v2.
    registry.during_load["1"] = lambda: registry.set_alias(CHAMPION, "2")
    with pytest.raises(
        PromotionRefusedError,  # the training CLI's exit 3, as `registry` says a refusal
        match=r"version 3 was registered but the quality gate did not finish.*"
        r"moved from version 1 to version 2",
    ):
        train(registry, guess=None)
    assert registry.get_by_alias(CHAMPION).version == "2"
    assert registry.get_version("3").aliases == ()
    assert registry.get_version("3").run_status == "FINISHED"
