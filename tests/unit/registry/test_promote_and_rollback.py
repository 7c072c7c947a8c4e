"""PromoteModel and RollbackChampion: moves by people, refused when unsafe, always recorded."""

from __future__ import annotations

import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.application.describe_model import DescribeModel, DescribeModelCommand
from sentiment.application.gate_candidate import GateCandidate, GateCandidateCommand
from sentiment.application.promote_model import (
    PromoteModel,
    PromoteModelCommand,
    PromoteModelResult,
)
from sentiment.application.registry_ops import move_alias
from sentiment.application.rollback_champion import RollbackChampion, RollbackChampionCommand
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    PromotionRefusedError,
    RegistryInputError,
)
from sentiment.domain.model_ref import parse_model_ref
from sentiment.domain.promotion import (
    CHALLENGER,
    CHAMPION,
    GATE,
    PROMOTE,
    AliasEvent,
    PromotionPolicy,
    alias_history,
)
from tests.support.fakes import (
    BrokenArtifactRegistry,
    Clock,
    ScriptedClassifier,
    holdout,
    register,
)

DATA = holdout(20)
POLICY = PromotionPolicy(margin=0.0, floor=0.8)


class Tools:
    def __init__(self, registry: InMemoryModelRegistry) -> None:
        clock = Clock()
        self.registry = registry
        self.gate = GateCandidate(registry, POLICY, clock)
        self.promote = PromoteModel(registry, POLICY, clock)
        self.rollback = RollbackChampion(registry, clock)
        self.describe = DescribeModel(registry)

    def train(self, wrong: int, f1: float | None = 0.9) -> str:
        version = register(self.registry, ScriptedClassifier(DATA, wrong), f1).version
        self.gate.execute(GateCandidateCommand(version, DATA, actor="ci"))
        return version

    def champion(self) -> str:
        return self.registry.get_by_alias(CHAMPION).version


@pytest.fixture
def tools() -> Tools:
    return Tools(InMemoryModelRegistry())


def register_then_fail(registry: InMemoryModelRegistry) -> None:
    with registry.start_run() as run:
        run.register(ScriptedClassifier(DATA))
        raise RuntimeError("killed")


def promote(tools: Tools, ref: str, reason: str = "reviewed") -> PromoteModelResult:
    return tools.promote.execute(PromoteModelCommand(parse_model_ref(ref), reason, "alice"))


def test_promoting_the_challenger_by_hand(tools: Tools) -> None:
    tools.train(wrong=1, f1=0.95)
    tools.train(wrong=6, f1=0.7)  # below the floor: challenger
    result = tools.promote.execute(
        PromoteModelCommand(parse_model_ref("@challenger"), "  canary went well \n", "alice")
    )
    assert result.version == "2"
    assert result.previous == "1"
    assert result.challenger_cleared
    assert tools.champion() == "2"
    with pytest.raises(ModelNotFoundError):
        tools.registry.get_by_alias(CHALLENGER)
    assert len(result.warnings) == 2
    assert "below the floor" in result.warnings[0]
    assert "below champion v1's 0.9500" in result.warnings[1]
    tags = tools.registry.get_version("2").tags
    assert tags["champion.reason"] == "canary went well"
    assert tags["champion.action"] == "promote"
    assert tags["champion.by"] == "alice"
    assert tags["champion.previous"] == "1"
    assert float(tags["champion.previous_f1_macro"]) == 0.95


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_a_promotion_needs_a_reason(tools: Tools, reason: str) -> None:
    tools.train(wrong=1)
    tools.train(wrong=6)
    with pytest.raises(PromotionRefusedError, match="reason"):
        promote(tools, "2", reason)
    assert tools.champion() == "1"


def test_the_champion_cannot_be_promoted_again(tools: Tools) -> None:
    tools.train(wrong=1)
    with pytest.raises(PromotionRefusedError, match="already holds @champion"):
        promote(tools, "1")


def test_a_version_without_a_finished_evaluation_is_never_champion(tools: Tools) -> None:
    tools.train(wrong=1)
    with tools.registry.start_run() as run:
        run.register(ScriptedClassifier(DATA))
        with pytest.raises(PromotionRefusedError, match="RUNNING"):
            promote(tools, "2")
    register(tools.registry, ScriptedClassifier(DATA), f1=None)
    with pytest.raises(PromotionRefusedError, match="never evaluated"):
        promote(tools, "3")
    with pytest.raises(RuntimeError, match="killed"):
        register_then_fail(tools.registry)
    with pytest.raises(PromotionRefusedError, match="FAILED"):
        promote(tools, "4")
    assert tools.champion() == "1"


def test_a_version_that_does_not_load_is_not_promoted() -> None:
    tools = Tools(BrokenArtifactRegistry())
    tools.train(wrong=1)
    tools.train(wrong=6)
    assert isinstance(tools.registry, BrokenArtifactRegistry)
    tools.registry.broken.add("2")
    with pytest.raises(ModelLoadError):
        promote(tools, "2")
    assert tools.champion() == "1"


def test_missing_and_foreign_references(tools: Tools) -> None:
    tools.train(wrong=1)
    with pytest.raises(ModelNotFoundError):
        promote(tools, "9")
    with pytest.raises(ModelNotFoundError):
        promote(tools, "@shadow")
    with pytest.raises(RegistryInputError, match="this registry holds"):
        promote(tools, "models:/Other/1")
    tools.train(wrong=6)
    promote(tools, "models:/SentimentAnalysisModel/latest")
    assert tools.champion() == "2"


def test_rollback_retraces_the_champions_and_says_so(tools: Tools) -> None:
    tools.train(wrong=3, f1=0.85)  # v1 champion
    tools.train(wrong=1, f1=0.95)  # v2 champion (better)
    tools.train(wrong=6, f1=0.70)  # v3 challenger
    promote(tools, "3", "hotfix for a new slang")  # v3 champion by hand
    assert tools.champion() == "3"

    first = tools.rollback.execute(RollbackChampionCommand(reason="", actor="bob"))
    assert (first.from_version, first.to_version) == ("3", "2")
    assert first.reason == "rollback from version 3"
    assert first.to_f1 == 0.95
    second = tools.rollback.execute(RollbackChampionCommand(reason="v2 too", actor="bob"))
    assert (second.from_version, second.to_version) == ("2", "1")
    with pytest.raises(PromotionRefusedError, match="first champion"):
        tools.rollback.execute(RollbackChampionCommand())
    assert tools.champion() == "1"

    history = tools.describe.execute(DescribeModelCommand(alias=CHAMPION)).history
    assert [(e.version, e.action, e.previous) for e in history] == [
        ("1", "gate", None),
        ("2", "gate", "1"),
        ("3", "promote", "2"),
        ("2", "rollback", "3"),
        ("1", "rollback", "2"),
    ]
    assert history[-1].reason == "v2 too"
    assert history[-1].actor == "bob"
    # v1's summary is its latest move's: nothing left of losing the alias to v2 before.
    v1 = tools.registry.get_version("1").tags
    assert (v1["champion.action"], v1["champion.previous"]) == ("rollback", "2")
    assert (v1["champion.until"], v1["champion.replaced_by"]) == ("", "")
    assert tools.registry.get_version("2").tags["champion.replaced_by"] == "1"
    described = tools.describe.execute(DescribeModelCommand())
    assert described.model_name == "SentimentAnalysisModel"
    assert [v.version for v in described.versions] == ["1", "2", "3"]
    everything = described.history
    assert [e.alias for e in everything].count(CHALLENGER) == 1


def test_rollback_without_a_champion_or_history(tools: Tools) -> None:
    with pytest.raises(PromotionRefusedError, match="nothing to roll back"):
        tools.rollback.execute(RollbackChampionCommand())
    register(tools.registry, ScriptedClassifier(DATA))
    tools.registry.set_alias(CHAMPION, "1")  # moved outside the tool: no record
    with pytest.raises(PromotionRefusedError, match="outside this tool"):
        tools.rollback.execute(RollbackChampionCommand())


def test_rollback_refuses_a_previous_champion_that_no_longer_loads() -> None:
    tools = Tools(BrokenArtifactRegistry())
    tools.train(wrong=3)
    tools.train(wrong=1)
    assert isinstance(tools.registry, BrokenArtifactRegistry)
    tools.registry.broken.add("1")
    with pytest.raises(ModelLoadError):
        tools.rollback.execute(RollbackChampionCommand())
    assert tools.champion() == "2"


def test_promoting_when_no_version_holds_champion(tools: Tools) -> None:
    register(tools.registry, ScriptedClassifier(DATA), f1=0.7)
    result = promote(tools, "1", "first one")
    assert (result.version, result.previous, result.f1, result.previous_f1) == (
        "1",
        None,
        0.7,
        None,
    )
    assert result.warnings == ("its macro-F1 0.7000 is below the floor 0.8000",)
    assert not result.challenger_cleared
    assert tools.champion() == "1"
    tags = tools.registry.get_version("1").tags
    assert (tags["champion.previous"], tags["champion.f1_macro"]) == ("", "0.7")
    assert "champion.previous_f1_macro" not in tags


def test_a_promotion_that_reaches_the_floor_and_the_champion_exactly_warns_of_nothing(
    tools: Tools,
) -> None:
    tools.train(wrong=1, f1=0.8)
    register(tools.registry, ScriptedClassifier(DATA), f1=0.8)
    result = promote(tools, "2")
    assert (result.previous, result.f1, result.previous_f1, result.warnings) == ("1", 0.8, 0.8, ())
    # The champion it replaced says so.
    v1 = tools.registry.get_version("1").tags
    assert v1["champion.replaced_by"] == "2"
    assert v1["champion.until"] == tools.registry.get_version("2").tags["champion.at"]


def test_a_rollback_records_both_scores(tools: Tools) -> None:
    tools.train(wrong=1, f1=0.95)
    tools.train(wrong=0, f1=0.9)  # better on the gate's data: champion
    tools.rollback.execute(RollbackChampionCommand(reason="back"))
    tags = tools.registry.get_version("1").tags
    assert (tags["champion.f1_macro"], tags["champion.previous_f1_macro"]) == ("0.95", "0.9")


def test_a_rollback_from_a_champion_without_a_score_records_the_target_s_alone(
    tools: Tools,
) -> None:
    tools.train(wrong=1, f1=0.95)
    tools.train(wrong=0, f1=None)  # logged no macro-F1, yet the gate made it champion
    result = tools.rollback.execute(RollbackChampionCommand(reason="back"))
    assert (result.to_version, result.to_f1) == ("1", 0.95)
    tags = tools.registry.get_version("1").tags
    assert tags["champion.f1_macro"] == "0.95"
    assert tags.get("champion.previous_f1_macro", "") == ""


def test_two_moves_onto_one_version_within_a_millisecond_are_both_kept(tools: Tools) -> None:
    register(tools.registry, ScriptedClassifier(DATA))
    at = 1_800_000_000.0
    first = move_alias(tools.registry, AliasEvent(CHALLENGER, "1", GATE, at), None)
    second = move_alias(tools.registry, AliasEvent(CHAMPION, "1", PROMOTE, at), None)
    assert first.at == at
    assert second.at == pytest.approx(at + 0.001, abs=1e-6)
    history = alias_history(tools.registry.list_versions())
    assert [(e.alias, e.action) for e in history] == [(CHALLENGER, GATE), (CHAMPION, PROMOTE)]
