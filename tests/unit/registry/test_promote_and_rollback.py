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
    require_evaluated,
)
from sentiment.application.registry_ops import move_alias
from sentiment.application.rollback_champion import RollbackChampion, RollbackChampionCommand
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    PromotionRefusedError,
    RegistryInputError,
)
from sentiment.domain.model import ModelVersion
from sentiment.domain.model_ref import parse_model_ref
from sentiment.domain.promotion import (
    CHALLENGER,
    CHAMPION,
    EVENT_TAG_PREFIX,
    GATE,
    PROMOTE,
    AliasEvent,
    PromotionPolicy,
    alias_history,
)
from tests.support.registry_fakes import (
    BrokenArtifactRegistry,
    Clock,
    RelabelledClassifier,
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
    with pytest.raises(PromotionRefusedError, match=r"^a promotion needs a reason \(--reason"):
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


def test_a_version_with_labels_the_champion_does_not_know_needs_allow_new_labels(
    tools: Tools,
) -> None:
    tools.train(wrong=1)
    register(tools.registry, RelabelledClassifier(DATA), f1=0.99)  # v2 says "0"/"1"
    with pytest.raises(PromotionRefusedError, match=r"label\(s\) '0', '1' that champion v1"):
        promote(tools, "2")
    assert tools.champion() == "1"
    assert "champion.at" not in tools.registry.get_version("2").tags

    result = tools.promote.execute(
        PromoteModelCommand(parse_model_ref("2"), "labels renamed", "alice", allow_new_labels=True)
    )
    assert tools.champion() == "2"
    assert any("'0', '1' that champion v1 did not" in w for w in result.warnings)


def test_a_broken_champion_does_not_block_a_promotion_on_labels() -> None:
    tools = Tools(BrokenArtifactRegistry())
    tools.train(wrong=1)
    register(tools.registry, RelabelledClassifier(DATA), f1=0.99)
    assert isinstance(tools.registry, BrokenArtifactRegistry)
    tools.registry.broken.add("1")
    promote(tools, "2", "v1 lost its artifact")
    assert tools.champion() == "2"


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


def test_a_rollback_away_from_a_champion_that_no_longer_loads_happens_without_warning() -> None:
    # The emergency lever: the champion's artifact is what broke, so its labels cannot be read.
    tools = Tools(BrokenArtifactRegistry())
    tools.train(wrong=3)
    tools.train(wrong=1)
    assert isinstance(tools.registry, BrokenArtifactRegistry)
    tools.registry.broken.add("2")
    result = tools.rollback.execute(RollbackChampionCommand("v2 lost its artifact", "bob"))
    assert (result.from_version, result.to_version, tools.champion()) == ("2", "1", "1")
    assert result.warnings == ()


class DeletingRegistry(InMemoryModelRegistry):
    """An in-memory registry whose versions can be deleted, as in MLflow: gone with their tags
    (so with the alias moves recorded on them)."""

    def __init__(self) -> None:
        super().__init__()
        self.deleted: set[str] = set()

    def get_version(self, version: str) -> ModelVersion:
        if version in self.deleted:
            raise ModelNotFoundError(f"{self.model_name} has no version {version}")
        return super().get_version(version)

    def list_versions(self) -> list[ModelVersion]:
        return [v for v in super().list_versions() if v.version not in self.deleted]


def test_rollback_never_skips_a_deleted_previous_champion() -> None:
    tools = Tools(DeletingRegistry())
    tools.train(wrong=3)  # v1 champion
    tools.train(wrong=2)  # v2 champion
    tools.train(wrong=1)  # v3 champion
    assert isinstance(tools.registry, DeletingRegistry)
    tools.registry.deleted.add("2")
    # The champion before v3 was v2: it is gone, so there is nothing to roll back to (not v1).
    with pytest.raises(PromotionRefusedError, match="version 2, no longer exists"):
        tools.rollback.execute(RollbackChampionCommand())
    assert tools.champion() == "3"


def test_rollback_returns_to_a_champion_placed_outside_the_tool(tools: Tools) -> None:
    tools.train(wrong=3)  # v1 champion
    register(tools.registry, ScriptedClassifier(DATA, wrong=2))
    tools.registry.set_alias(CHAMPION, "2")  # by hand, with MLflow's client: no record
    tools.train(wrong=1)  # v3 champion, over v2
    result = tools.rollback.execute(RollbackChampionCommand())
    assert (result.from_version, result.to_version) == ("3", "2")


@pytest.mark.parametrize("status", ["PENDING_REGISTRATION", "FAILED_REGISTRATION", ""])
def test_a_version_the_registry_does_not_call_ready_is_never_champion(status: str) -> None:
    version = ModelVersion(
        "M", "2", "run", metrics={"f1_macro": 0.95}, run_status="FINISHED", status=status
    )
    with pytest.raises(PromotionRefusedError, match="in the registry, not READY"):
        require_evaluated(version)


def test_a_rollback_across_a_change_of_labels_happens_and_says_so(tools: Tools) -> None:
    tools.train(wrong=1)
    register(tools.registry, RelabelledClassifier(DATA), f1=0.99)
    tools.promote.execute(
        PromoteModelCommand(parse_model_ref("2"), "labels renamed", "alice", allow_new_labels=True)
    )
    result = tools.rollback.execute(RollbackChampionCommand("clients broke", "bob"))
    assert tools.champion() == "1"
    assert result.warnings == (
        "the labels change: version 1 predicts 'negative', 'positive', "
        "version 2 predicted '0', '1'",
    )
    # Without a change of labels, nothing to point out.
    tools.train(wrong=0)
    assert tools.rollback.execute(RollbackChampionCommand()).warnings == ()


def test_a_rollback_past_an_unreadable_event_tag_says_so(tools: Tools) -> None:
    tools.train(wrong=3)  # v1 champion
    tools.train(wrong=1)  # v2 champion
    tools.registry.set_tags("1", {f"{EVENT_TAG_PREFIX}1": '{"alias": "champion", "at": Infinity}'})
    result = tools.rollback.execute(RollbackChampionCommand("v2 is off", "bob"))
    assert tools.champion() == "1"
    assert result.warnings == (
        f"version 1: the alias event tag '{EVENT_TAG_PREFIX}1' cannot be read (edited by hand?); "
        "version 1 was chosen without it",
    )


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


def test_a_reason_of_1000_cyrillic_characters_is_kept_whole(tools: Tools) -> None:
    # Every letter is escaped to 6 characters in the event's JSON unless written as typed: the
    # registry would refuse the 6000-character tag and nothing would move.
    tools.train(wrong=1)
    tools.train(wrong=6)
    reason = "я" * 1000
    promote(tools, "2", reason)
    assert tools.champion() == "2"
    assert tools.registry.get_version("2").tags["champion.reason"] == reason
    back = tools.rollback.execute(RollbackChampionCommand(reason, "bob"))
    assert (back.to_version, tools.champion()) == ("1", "1")
    history = tools.describe.execute(DescribeModelCommand(alias=CHAMPION)).history
    assert [e.reason for e in history[-2:]] == [reason, reason]


def test_a_refusal_names_a_missing_status_and_a_run_that_is_gone() -> None:
    scored = {"f1_macro": 0.95}
    unknown = ModelVersion("M", "2", "run", metrics=scored, run_status="FINISHED", status="")
    with pytest.raises(PromotionRefusedError, match=r"^version 2 is of unknown status in the"):
        require_evaluated(unknown)
    gone = ModelVersion("M", "3", "run", metrics=scored, run_status="")  # its run was deleted
    with pytest.raises(PromotionRefusedError, match=r"^version 3: its training run is gone, not"):
        require_evaluated(gone)


def test_moves_without_an_actor_or_a_reason_record_none_and_a_rollback_names_its_origin(
    tools: Tools,
) -> None:
    tools.train(wrong=1)
    tools.train(wrong=6)
    tools.promote.execute(PromoteModelCommand(parse_model_ref("2"), "reviewed"))
    assert tools.registry.get_version("2").tags["champion.by"] == ""
    result = tools.rollback.execute(RollbackChampionCommand())
    assert result.reason == "rollback from version 2"
    tags = tools.registry.get_version("1").tags
    assert (tags["champion.reason"], tags["champion.by"]) == ("rollback from version 2", "")
