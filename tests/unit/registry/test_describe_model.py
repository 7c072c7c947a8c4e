"""DescribeModel: the versions and the alias history, of one alias or of all."""

from __future__ import annotations

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.application.describe_model import DescribeModel, DescribeModelCommand
from sentiment.application.gate_candidate import GateCandidate, GateCandidateCommand
from sentiment.domain.errors import ModelNotFoundError
from sentiment.domain.promotion import PromotionPolicy
from tests.support.registry_fakes import Clock, ScriptedClassifier, holdout, register

DATA = holdout(20)


@pytest.fixture
def registry() -> InMemoryModelRegistry:
    """v1 gated to @champion, v2 (worse) gated to @challenger, v3 with a hand-placed @staging."""
    registry = InMemoryModelRegistry()
    gate = GateCandidate(registry, PromotionPolicy(margin=0.0, floor=0.5), Clock())
    for wrong in (1, 4):
        version = register(registry, ScriptedClassifier(DATA, wrong), 0.9).version
        gate.execute(GateCandidateCommand(version, DATA, actor="ci"))
    registry.set_alias("staging", register(registry, ScriptedClassifier(DATA), 0.9).version)
    return registry


def history(registry: InMemoryModelRegistry, alias: str | None) -> list[tuple[str, str]]:
    described = DescribeModel(registry).execute(DescribeModelCommand(alias=alias))
    return [(e.alias, e.version) for e in described.history]


def test_the_history_of_one_alias_with_or_without_its_at_sign(
    registry: InMemoryModelRegistry,
) -> None:
    assert history(registry, None) == [("champion", "1"), ("challenger", "2")]
    assert history(registry, "champion") == history(registry, "@champion") == [("champion", "1")]
    assert history(registry, "@challenger") == [("challenger", "2")]


def test_an_alias_held_without_a_recorded_move_has_an_empty_history(
    registry: InMemoryModelRegistry,
) -> None:
    assert history(registry, "staging") == []
    # The tools' own aliases exist before anything holds them.
    assert history(InMemoryModelRegistry(), "champion") == []
    assert history(InMemoryModelRegistry(), "@challenger") == []


@pytest.mark.parametrize("alias", ["champoin", "Champion", "@@champion", "", "latest"])
def test_an_alias_nothing_ever_held_is_refused_by_name(
    registry: InMemoryModelRegistry, alias: str
) -> None:
    with pytest.raises(ModelNotFoundError) as raised:
        history(registry, alias)
    assert str(raised.value) == (
        f"SentimentAnalysisModel has no alias @{alias.removeprefix('@')}: no version holds it "
        "and no move of it was recorded (aliases: @challenger, @champion, @staging)"
    )
