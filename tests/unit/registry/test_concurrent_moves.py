"""Two alias moves at once (two people, or a person and a training's gate): a move decided on a
holder that has changed since is refused, and leaves no record of a move that did not happen."""

from __future__ import annotations

import pytest

from sentiment.application.describe_model import DescribeModel, DescribeModelCommand
from sentiment.application.gate_candidate import GateCandidate, GateCandidateCommand
from sentiment.application.promote_model import PromoteModel, PromoteModelCommand
from sentiment.application.rollback_champion import RollbackChampion, RollbackChampionCommand
from sentiment.domain.errors import PromotionRefusedError
from sentiment.domain.model_ref import parse_model_ref
from sentiment.domain.promotion import CHAMPION, PromotionPolicy, rollback_target
from tests.support.registry_fakes import (
    Clock,
    InterferingRegistry,
    ScriptedClassifier,
    holdout,
    register,
)

DATA = holdout(20)
POLICY = PromotionPolicy(margin=0.0, floor=0.5)


@pytest.fixture
def registry() -> InterferingRegistry:
    """v1 champion (by the gate), v2 and v3 registered and evaluated, without an alias."""
    registry = InterferingRegistry()
    for wrong in (3, 2, 1):
        register(registry, ScriptedClassifier(DATA, wrong))
    GateCandidate(registry, POLICY, Clock()).execute(GateCandidateCommand("1", DATA))
    return registry


def promote(registry: InterferingRegistry, version: str, who: str, clock: Clock) -> None:
    command = PromoteModelCommand(parse_model_ref(version), f"{who} says so", who)
    PromoteModel(registry, POLICY, clock).execute(command)


def champion_moves(registry: InterferingRegistry) -> list[tuple[str, str | None]]:
    history = DescribeModel(registry).execute(DescribeModelCommand(alias=CHAMPION)).history
    return [(e.version, e.previous) for e in history]


def test_a_promotion_overtaken_by_another_is_refused(registry: InterferingRegistry) -> None:
    clock = Clock()
    # Bob promotes v3 while Alice's promotion of v2 loads its artifact.
    registry.during_load["2"] = lambda: promote(registry, "3", "bob", clock)
    with pytest.raises(PromotionRefusedError, match="moved from version 1 to version 3"):
        promote(registry, "2", "alice", clock)
    assert registry.get_by_alias(CHAMPION).version == "3"
    assert champion_moves(registry) == [("1", None), ("3", "1")]
    assert "champion.at" not in registry.get_version("2").tags


def test_the_gate_does_not_override_a_promotion_made_while_it_scored(
    registry: InterferingRegistry,
) -> None:
    clock = Clock()
    register(registry, ScriptedClassifier(DATA, wrong=0))  # v4 beats v1
    # Bob promotes v3 by hand (a hotfix) while the gate scores the champion, v1.
    registry.during_load["1"] = lambda: promote(registry, "3", "bob", clock)
    gate = GateCandidate(registry, POLICY, clock)
    with pytest.raises(PromotionRefusedError, match="moved from version 1 to version 3"):
        gate.execute(GateCandidateCommand("4", DATA))
    assert registry.get_by_alias(CHAMPION).version == "3"
    assert registry.get_version("4").aliases == ()


def test_a_move_overtaken_after_its_record_voids_the_record(
    registry: InterferingRegistry,
) -> None:
    clock = Clock()
    promote(registry, "2", "alice", clock)  # v1 -> v2
    before = {v: registry.get_version(v).tags for v in ("2", "3")}

    def bob_rolls_back() -> None:
        RollbackChampion(registry, clock).execute(RollbackChampionCommand("bob", "bob"))

    # Carol's promotion of v3 is recorded; Bob's rollback lands before her alias moves.
    registry.during_tags = bob_rolls_back
    with pytest.raises(PromotionRefusedError, match="moved from version 2 to version 1"):
        promote(registry, "3", "carol", clock)
    assert registry.get_by_alias(CHAMPION).version == "1"
    assert champion_moves(registry) == [("1", None), ("2", "1"), ("1", "2")]
    tags3 = registry.get_version("3").tags
    assert {k: v for k, v in tags3.items() if v} == before["3"]
    assert registry.get_version("2").tags["champion.replaced_by"] == "1"
    # The history still explains the holder, and the voided record is no unreadable tag.
    described = DescribeModel(registry).execute(DescribeModelCommand(alias=CHAMPION))
    with pytest.raises(PromotionRefusedError, match="first champion"):
        rollback_target(described.history, "1")
    assert described.unreadable == ()


def test_two_rollbacks_at_once_roll_back_once(registry: InterferingRegistry) -> None:
    clock = Clock()
    promote(registry, "2", "alice", clock)
    promote(registry, "3", "alice", clock)  # 1 -> 2 -> 3

    def rollback(who: str) -> None:
        RollbackChampion(registry, clock).execute(RollbackChampionCommand(who, who))

    registry.during_load["2"] = lambda: rollback("bob")  # while Carol loads v2
    with pytest.raises(PromotionRefusedError, match="moved from version 3 to version 2"):
        rollback("carol")
    assert registry.get_by_alias(CHAMPION).version == "2"
    assert champion_moves(registry)[-1] == ("2", "3")


def test_a_move_overtaken_right_after_it_happened_says_so(registry: InterferingRegistry) -> None:
    clock = Clock()
    # Bob's promotion of v3 passed its last check before Alice's alias move; it lands after.
    registry.after_alias = lambda: registry.set_alias(CHAMPION, "3")
    with pytest.raises(PromotionRefusedError, match="then at once moved on to version 3"):
        promote(registry, "2", "alice", clock)
    assert registry.get_by_alias(CHAMPION).version == "3"
    # v1 was not handed over to v2: what v1 lost it to is for Bob's move to write.
    assert registry.get_version("1").tags.get("champion.replaced_by", "") == ""


def test_two_gates_giving_challenger_at_once_both_finish(registry: InterferingRegistry) -> None:
    # Two trainings (say, two model types in CI) gate at once; neither beats the champion.
    clock = Clock()
    for _ in range(2):
        register(registry, ScriptedClassifier(DATA, wrong=8))  # v4, v5
    # The gate of v5 runs in full once the gate of v4 has written its record.
    registry.during_tags = lambda: GateCandidate(registry, POLICY, clock).execute(
        GateCandidateCommand("5", DATA)
    )
    result = GateCandidate(registry, PromotionPolicy(margin=0.0, floor=0.99), clock).execute(
        GateCandidateCommand("4", DATA)
    )
    assert result.alias == "challenger"
    assert registry.get_by_alias("challenger").version == "4"
    assert registry.get_by_alias(CHAMPION).version == "1"
    assert registry.get_version("5").tags["challenger.action"] == "gate"


def test_a_first_promotion_overtaken_by_another_says_no_version_held_the_alias() -> None:
    registry = InterferingRegistry()
    for wrong in (2, 1):
        register(registry, ScriptedClassifier(DATA, wrong))
    clock = Clock()
    registry.during_load["1"] = lambda: promote(registry, "2", "bob", clock)
    with pytest.raises(
        PromotionRefusedError, match=r"^@champion moved from no version to version 2"
    ):
        promote(registry, "1", "alice", clock)
    assert registry.get_by_alias(CHAMPION).version == "2"


def test_a_move_whose_alias_is_removed_right_after_says_so(registry: InterferingRegistry) -> None:
    registry.after_alias = lambda: registry.delete_alias(CHAMPION)
    with pytest.raises(PromotionRefusedError, match="then at once moved on to no version by"):
        promote(registry, "2", "alice", Clock())
