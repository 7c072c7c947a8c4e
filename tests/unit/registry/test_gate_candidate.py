"""GateCandidate on the in-memory registry: champion or challenger, decided on the same data."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.application.gate_candidate import (
    GateCandidate,
    GateCandidateCommand,
    GateCandidateResult,
)
from sentiment.domain.errors import (
    ModelLoadError,
    PromotionRefusedError,
    RegistryUnavailableError,
)
from sentiment.domain.model import LabelledDataset, Prediction
from sentiment.domain.promotion import CHALLENGER, CHAMPION, EVENT_TAG_PREFIX, PromotionPolicy
from tests.support.registry_fakes import (
    LABELS,
    BrokenArtifactRegistry,
    Clock,
    RelabelledClassifier,
    ScriptedClassifier,
    f1_of,
    holdout,
    register,
    relabelled,
)

DATA = holdout(20)


def gate(registry: InMemoryModelRegistry, margin: float = 0.0, floor: float = 0.8) -> GateCandidate:
    return GateCandidate(registry, PromotionPolicy(margin=margin, floor=floor), clock=Clock())


def run_gate(registry: InMemoryModelRegistry, version: str, **policy: float) -> GateCandidateResult:
    return gate(registry, **policy).execute(GateCandidateCommand(version, DATA, actor="tester"))


def test_the_first_version_becomes_champion_when_it_passes_the_floor() -> None:
    registry = InMemoryModelRegistry()
    v1 = register(registry, ScriptedClassifier(DATA, wrong=2))  # 0.90 on DATA
    result = gate(registry).execute(GateCandidateCommand(v1.version, DATA, actor="tester"))
    assert result.promoted
    assert result.alias == CHAMPION
    assert result.champion_version is None
    assert result.candidate_version == "1"
    assert result.candidate_f1 == pytest.approx(0.9, abs=0.01)
    assert result.candidate_accuracy == 0.9
    assert (result.margin, result.floor, result.holdout_rows) == (0.0, 0.8, 20)
    tags = registry.get_version("1").tags
    names = ("accuracy", "margin", "floor", "holdout_rows")
    assert [tags[f"champion.{name}"] for name in names] == ["0.9", "0.0", "0.8", "20.0"]
    assert registry.get_by_alias(CHAMPION).version == "1"
    assert result.reason.startswith("no champion to beat")
    assert result.reason.endswith(">= floor 0.8000")


def test_the_first_version_below_the_floor_is_only_challenger() -> None:
    registry = InMemoryModelRegistry()
    v1 = register(registry, ScriptedClassifier(DATA, wrong=6), f1=0.99)  # 0.70 on DATA
    result = gate(registry).execute(GateCandidateCommand(v1.version, DATA))
    assert not result.promoted
    assert result.alias == CHALLENGER
    assert "below the floor 0.8000" in result.reason
    assert registry.get_by_alias(CHALLENGER).version == "1"
    assert [v.aliases for v in registry.list_versions()] == [(CHALLENGER,)]
    assert registry.get_version("1").tags["challenger.by"] == ""  # no actor given


def test_a_better_candidate_takes_over_and_both_versions_record_it() -> None:
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA, wrong=3))
    run_gate(registry, "1")
    register(registry, ScriptedClassifier(DATA, wrong=1))
    result = gate(registry).execute(GateCandidateCommand("2", DATA, actor="tester"))
    assert result.promoted
    assert result.champion_version == "1"
    assert result.champion_f1 == pytest.approx(f1_of(ScriptedClassifier(DATA, 3), DATA))
    assert registry.get_by_alias(CHAMPION).version == "2"

    tags = registry.get_version("2").tags
    assert tags["champion.previous"] == "1"
    assert tags["champion.action"] == "gate"
    assert tags["champion.by"] == "tester"
    assert float(tags["champion.f1_macro"]) == pytest.approx(result.candidate_f1)
    assert float(tags["champion.champion_f1_macro"]) == pytest.approx(result.champion_f1 or 0)
    assert tags["champion.data"] == "holdout (20 rows, digest h0ld0ut)"
    (event,) = [json.loads(v) for k, v in tags.items() if k.startswith(EVENT_TAG_PREFIX)]
    assert event["alias"] == CHAMPION
    assert event["previous"] == "1"
    old = registry.get_version("1").tags
    assert old["champion.replaced_by"] == "2"
    assert old["champion.until"] == tags["champion.at"]


def test_both_are_scored_on_the_given_data_not_on_their_recorded_metrics() -> None:
    registry = InMemoryModelRegistry()
    # The champion claims 0.99 from its own split, but scores 0.80 on this one.
    register(registry, ScriptedClassifier(DATA, wrong=4), f1=0.99)
    registry.set_alias(CHAMPION, "1")
    register(registry, ScriptedClassifier(DATA, wrong=2), f1=0.85)
    result = gate(registry).execute(GateCandidateCommand("2", DATA))
    assert result.promoted
    assert result.champion_f1 == pytest.approx(0.8, abs=0.01)


class ThreeClassClassifier(ScriptedClassifier):
    """Knows a third class, `neutral`, and answers it for the first `wrong` texts."""

    def __init__(self, data: LabelledDataset, wrong: int) -> None:
        super().__init__(data)
        self.neutral = set(data.texts[:wrong])

    @property
    def classes(self) -> tuple[str, ...]:
        return (*LABELS, "neutral")

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return [
            Prediction("neutral", {"neutral": 0.9}) if text in self.neutral else scripted
            for text, scripted in zip(texts, super().predict(texts), strict=True)
        ]


def test_a_champion_that_answers_a_class_the_data_lacks_is_charged_for_those_misses() -> None:
    # The champion (three classes) gets 6 of 20 wrong as "neutral", the candidate 2 of 20: the
    # champion's "neutral" answers must count against it, not vanish from its recall.
    registry = InMemoryModelRegistry()
    register(registry, ThreeClassClassifier(DATA, wrong=6))
    registry.set_alias(CHAMPION, "1")
    register(registry, ScriptedClassifier(DATA, wrong=2))
    result = gate(registry).execute(GateCandidateCommand("2", DATA))
    assert result.champion_f1 == pytest.approx(0.82, abs=0.01)
    assert result.promoted
    assert registry.get_by_alias(CHAMPION).version == "2"


@pytest.mark.parametrize(("wrong", "margin", "promoted"), [(3, 0.0, True), (3, 0.01, False)])
def test_a_tie_promotes_only_without_a_margin(wrong: int, margin: float, promoted: bool) -> None:
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA, wrong=wrong))
    run_gate(registry, "1")
    register(registry, ScriptedClassifier(DATA, wrong=wrong))
    result = gate(registry, margin=margin).execute(GateCandidateCommand("2", DATA))
    assert result.promoted is promoted
    assert registry.get_by_alias(CHAMPION).version == ("2" if promoted else "1")


def test_a_worse_candidate_becomes_challenger_and_the_champion_stays() -> None:
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA, wrong=1))
    run_gate(registry, "1")
    register(registry, ScriptedClassifier(DATA, wrong=3))
    result = gate(registry).execute(GateCandidateCommand("2", DATA))
    assert not result.promoted
    assert "below champion v1's" in result.reason
    assert registry.get_by_alias(CHAMPION).version == "1"
    assert registry.get_by_alias(CHALLENGER).version == "2"
    assert registry.get_version("2").tags["challenger.reason"] == result.reason
    # A later, still worse candidate takes @challenger over.
    register(registry, ScriptedClassifier(DATA, wrong=5))
    gate(registry).execute(GateCandidateCommand("3", DATA))
    assert registry.get_by_alias(CHALLENGER).version == "3"
    assert registry.get_version("3").tags["challenger.previous"] == "2"


def test_a_champion_that_no_longer_loads_leaves_only_the_floor() -> None:
    registry = BrokenArtifactRegistry()
    register(registry, ScriptedClassifier(DATA, wrong=0))
    run_gate(registry, "1")
    registry.broken.add("1")
    register(registry, ScriptedClassifier(DATA, wrong=2))
    result = gate(registry).execute(GateCandidateCommand("2", DATA))
    assert result.promoted
    assert result.champion_f1 is None
    assert "champion v1 could not be scored" in result.reason


def test_a_candidate_that_does_not_load_is_not_gated() -> None:
    registry = BrokenArtifactRegistry()
    register(registry, ScriptedClassifier(DATA))
    registry.broken.add("1")
    with pytest.raises(ModelLoadError, match="artifacts are missing"):
        gate(registry).execute(GateCandidateCommand("1", DATA))
    assert registry.list_versions()[0].aliases == ()


def test_a_version_from_an_unfinished_run_is_refused() -> None:
    registry = InMemoryModelRegistry()
    with registry.start_run() as run:
        version = run.register(ScriptedClassifier(DATA))
        with pytest.raises(PromotionRefusedError, match="RUNNING"):
            gate(registry).execute(GateCandidateCommand(version.version, DATA))
    assert registry.get_version("1").aliases == ()


def test_an_unreachable_registry_moves_nothing() -> None:
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA))
    registry.set_reachable(False)
    with pytest.raises(RegistryUnavailableError):
        gate(registry).execute(GateCandidateCommand("1", DATA))
    registry.set_reachable(True)
    assert registry.get_version("1").aliases == ()


def test_a_candidate_with_labels_the_champion_does_not_know_is_only_challenger() -> None:
    # Trained on the same reviews labelled 0/1: on 0/1 data the champion (negative/positive)
    # scores 0.0, which no candidate should be crowned for; the API's clients would get "1".
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA, wrong=1))
    run_gate(registry, "1")
    register(registry, RelabelledClassifier(DATA, wrong=0))
    result = gate(registry).execute(GateCandidateCommand("2", relabelled(DATA)))
    assert not result.promoted
    assert result.alias == CHALLENGER
    assert "predicts label(s) '0', '1' that champion v1 does not" in result.reason
    assert "--allow-new-labels" in result.reason
    assert registry.get_by_alias(CHAMPION).version == "1"
    assert registry.get_by_alias(CHALLENGER).version == "2"
    assert registry.get_version("2").tags["challenger.reason"] == result.reason


def test_a_candidate_that_adds_a_label_is_only_challenger() -> None:
    registry = InMemoryModelRegistry()
    register(registry, ScriptedClassifier(DATA, wrong=3))
    run_gate(registry, "1")
    register(registry, ThreeClassClassifier(DATA, wrong=0))
    result = gate(registry).execute(GateCandidateCommand("2", DATA))
    assert not result.promoted
    assert "predicts label(s) 'neutral' that champion v1 does not" in result.reason
    assert registry.get_by_alias(CHAMPION).version == "1"


def test_both_versions_are_scored_on_every_class_either_knows() -> None:
    # A held-out set of one class: the other class still counts (an F1 of 0), for both versions
    # alike, as in training's own evaluation.
    registry = InMemoryModelRegistry()
    positives = LabelledDataset(
        texts=tuple(
            t for t, label in zip(DATA.texts, DATA.labels, strict=True) if label == LABELS[1]
        ),
        labels=(LABELS[1],) * 10,
        name="positives",
    )
    register(registry, ScriptedClassifier(DATA))
    register(registry, ScriptedClassifier(DATA))
    policy = {"floor": 0.0}
    gate(registry, **policy).execute(GateCandidateCommand("1", positives))
    result = gate(registry, **policy).execute(GateCandidateCommand("2", positives))
    assert result.candidate_f1 == result.champion_f1 == 0.5
    assert result.promoted
    # Data without a digest is named by its name alone.
    assert registry.get_version("2").tags["champion.data"] == "positives"
