"""The quality gate's rule, alias events as tags, and the champion's undo stack."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sentiment.domain.errors import PromotionRefusedError
from sentiment.domain.model import ModelVersion
from sentiment.domain.model_ref import MAX_TAG_VALUE_LENGTH, check_tag
from sentiment.domain.promotion import (
    CHALLENGER,
    CHAMPION,
    EVENT_TAG_PREFIX,
    GATE,
    MAX_REASON_CHARS,
    PROMOTE,
    ROLLBACK,
    AliasEvent,
    PromotionPolicy,
    alias_history,
    champion_stack,
    rollback_target,
    unreadable_event_tags,
)

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
margins = st.floats(min_value=-0.2, max_value=0.2, allow_nan=False)


@given(scores, st.none() | scores, margins, scores)
def test_promote_exactly_when_the_floor_and_the_champion_plus_margin_are_reached(
    candidate: float, champion: float | None, margin: float, floor: float
) -> None:
    # Away from the boundaries, where the tolerance of 1e-9 does not matter.
    assume(abs(candidate - floor) > 1e-6)
    assume(champion is None or abs(candidate - (champion + margin)) > 1e-6)
    decision = PromotionPolicy(margin=margin, floor=floor).decide(candidate, champion, "2")
    expected = candidate >= floor and (champion is None or candidate >= champion + margin)
    assert decision.promote == expected
    assert decision.reason


@given(scores, st.none() | scores, margins, scores, st.floats(min_value=0.0, max_value=0.5))
def test_a_better_candidate_is_never_worse_off(
    candidate: float, champion: float | None, margin: float, floor: float, gain: float
) -> None:
    policy = PromotionPolicy(margin=margin, floor=floor)
    if policy.decide(candidate, champion).promote:
        assert policy.decide(min(1.0, candidate + gain), champion).promote


def test_a_tie_with_the_champion_promotes_at_margin_zero() -> None:
    assert PromotionPolicy(0.0, 0.8).decide(0.85, 0.85, "1").promote
    assert not PromotionPolicy(0.01, 0.8).decide(0.855, 0.85, "1").promote
    # 0.84 + 0.01 is 0.8500000000000001 in floating point: still a tie.
    assert PromotionPolicy(0.01, 0.8).decide(0.85, 0.84, "1").promote


def test_reasons_say_which_bar_was_missed() -> None:
    policy = PromotionPolicy(margin=0.01, floor=0.8)
    assert "below the floor 0.8000" in policy.decide(0.79, None).reason
    assert "below the floor" in policy.decide(0.79, 0.5, "3").reason
    reason = policy.decide(0.85, 0.845, "3").reason
    assert "champion v3's 0.8450 + margin 0.0100 = 0.8550" in reason
    assert "no champion to beat" in policy.decide(0.9, None).reason


def test_a_policy_at_the_bounds_is_accepted() -> None:
    for margin in (-1.0, 1.0):
        for floor in (0.0, 1.0):
            assert PromotionPolicy(margin=margin, floor=floor).floor == floor
    for margin in (-1.0001, 1.0001):
        with pytest.raises(ValueError, match="margin"):
            PromotionPolicy(margin=margin)


@given(scores, scores, margins)
def test_reaching_a_bar_exactly_is_enough(floor: float, champion: float, margin: float) -> None:
    policy = PromotionPolicy(margin=margin, floor=floor)
    assert policy.decide(floor, None).promote
    bar = champion + margin
    if bar >= floor:
        assert policy.decide(bar, champion, "1").promote


def test_within_the_tolerance_of_a_bar_is_a_tie() -> None:
    # 1e-9 below the floor (or the bar), to the last bit, still counts as reaching it.
    floor = 0.8
    candidate = floor - 1e-9
    assert candidate < floor
    assert candidate + 1e-9 == floor
    assert PromotionPolicy(floor=floor).decide(candidate, None).promote
    policy = PromotionPolicy(margin=0.0, floor=0.5)
    assert policy.decide(candidate, floor, "1").promote
    assert not policy.decide(floor - 2e-9, floor, "1").promote


def test_a_reason_without_the_champion_version_names_the_champion() -> None:
    policy = PromotionPolicy(margin=0.0, floor=0.5)
    assert policy.decide(0.6, 0.9).reason == (
        "macro-F1 0.6000 is below the champion's 0.9000 + margin 0.0000 = 0.9000"
    )
    assert "the champion's 0.5000" in policy.decide(0.6, 0.5, "").reason
    assert "champion v7's 0.5000" in policy.decide(0.6, 0.5, "7").reason


def test_the_default_policy_has_a_floor_of_0_8_and_no_margin() -> None:
    policy = PromotionPolicy()
    assert (policy.floor, policy.margin) == (0.8, 0.0)
    assert policy.decide(0.8, 0.8, "1").promote
    assert not policy.decide(0.79, None).promote


def test_an_event_tag_is_keyed_by_its_time_in_milliseconds() -> None:
    event = AliasEvent(CHAMPION, "1", GATE, 1_800_000_000.1234)
    # The key is what the registry keeps: its spelling is a stored format, not a detail.
    assert event.tag_key() == "sentiment.alias_event.1800000000123"
    assert event.tag_key() == f"{EVENT_TAG_PREFIX}1800000000123"
    assert AliasEvent(CHAMPION, "1", GATE, 1.0).tag_key() == f"{EVENT_TAG_PREFIX}0000000001000"


def test_an_event_tag_without_the_optional_fields_reads_as_empty() -> None:
    key = f"{EVENT_TAG_PREFIX}1800000000000"
    value = json.dumps({"alias": CHAMPION, "action": GATE, "at": 1_800_000_000.0})
    event = AliasEvent.from_tag("4", key, value)
    assert event == AliasEvent(CHAMPION, "4", GATE, 1_800_000_000.0)
    assert (event.previous, event.reason, event.actor, event.data) == (None, "", "", "")
    blank = json.dumps({"alias": CHAMPION, "action": GATE, "at": 1.0, "previous": ""})
    restored = AliasEvent.from_tag("4", key, blank)
    assert restored is not None
    assert restored.previous is None


def test_other_aliases_before_the_champion_do_not_hide_its_history() -> None:
    history = [
        AliasEvent(CHALLENGER, "1", GATE, 1.0),
        AliasEvent(CHAMPION, "2", GATE, 2.0),
        AliasEvent("shadow", "4", PROMOTE, 3.0),
        AliasEvent(CHAMPION, "3", PROMOTE, 4.0, previous="2"),
    ]
    assert champion_stack(history) == ["2", "3"]
    assert rollback_target(history, "3") == "2"


@pytest.mark.parametrize(
    ("margin", "floor"), [(0.0, 1.5), (0.0, -0.1), (2.0, 0.8), (0.0, float("nan"))]
)
def test_a_policy_out_of_range_is_refused(margin: float, floor: float) -> None:
    with pytest.raises(ValueError, match="promotion"):
        PromotionPolicy(margin=margin, floor=floor)


events = st.builds(
    AliasEvent,
    alias=st.sampled_from([CHAMPION, CHALLENGER, "shadow"]),
    version=st.integers(1, 999).map(str),
    action=st.sampled_from([GATE, PROMOTE, ROLLBACK]),
    at=st.floats(min_value=1e9, max_value=4e9),
    previous=st.none() | st.integers(1, 999).map(str),
    reason=st.text(max_size=50),
    actor=st.text(max_size=20),
    metrics=st.dictionaries(st.sampled_from(["f1_macro", "accuracy"]), scores, max_size=2),
    data=st.text(max_size=30),
)


@given(events)
def test_an_event_survives_its_tags(event: AliasEvent) -> None:
    tags = event.to_tags()
    key = event.tag_key()
    assert key.startswith(EVENT_TAG_PREFIX)
    restored = AliasEvent.from_tag(event.version, key, tags[key])
    assert restored is not None
    assert restored.alias == event.alias
    assert restored.previous == event.previous
    assert restored.reason == event.reason
    assert (restored.version, restored.action, restored.actor, restored.data) == (
        event.version,
        event.action,
        event.actor,
        event.data,
    )
    assert restored.metrics == pytest.approx(dict(event.metrics))
    assert restored.at == pytest.approx(event.at)
    assert tags[f"{event.alias}.reason"] == event.reason
    assert tags[f"{event.alias}.previous"] == (event.previous or "")
    assert tags[f"{event.alias}.at"].endswith("Z")


def test_a_reason_is_kept_to_its_first_1000_characters() -> None:
    kept = "x" * MAX_REASON_CHARS
    event = AliasEvent(CHAMPION, "3", PROMOTE, 1_800_000_000.0, "2", kept + " and no more")
    tags = event.to_tags()
    assert MAX_REASON_CHARS == 1000
    assert tags["champion.reason"] == kept
    assert json.loads(tags[event.tag_key()])["reason"] == kept


@pytest.mark.parametrize("char", ["я", "é", "😀", '"'])
def test_a_reason_of_1000_characters_in_any_script_is_kept_whole(char: str) -> None:
    reason = char * MAX_REASON_CHARS
    event = AliasEvent(CHAMPION, "3", PROMOTE, 1_800_000_000.0, "2", reason, "alice")
    tags = event.to_tags()
    for key, value in tags.items():
        check_tag(key, value)  # what every registry adapter checks before it writes
    restored = AliasEvent.from_tag("3", event.tag_key(), tags[event.tag_key()])
    assert restored is not None
    assert restored.reason == reason
    assert tags["champion.reason"] == reason


def test_a_reason_the_json_escapes_heavily_is_cut_to_fit_in_a_tag() -> None:
    reason = "\x01" * MAX_REASON_CHARS  # 6 characters each in JSON: "\\u0001"
    event = AliasEvent(CHAMPION, "3", PROMOTE, 1_800_000_000.0, "2", reason, "alice")
    value = event.to_tags()[event.tag_key()]
    check_tag(event.tag_key(), value)
    restored = AliasEvent.from_tag("3", event.tag_key(), value)
    assert restored is not None
    assert 0 < len(restored.reason) < MAX_REASON_CHARS
    assert set(restored.reason) == {"\x01"}


@given(events, st.text(max_size=2 * MAX_REASON_CHARS))
def test_every_event_fits_in_a_tag_and_keeps_the_start_of_its_reason(
    event: AliasEvent, reason: str
) -> None:
    long = AliasEvent(
        event.alias, event.version, event.action, event.at, event.previous, reason, event.actor
    )
    tags = long.to_tags()
    assert len(tags[long.tag_key()]) <= MAX_TAG_VALUE_LENGTH
    for key, value in tags.items():
        check_tag(key, value)
    restored = AliasEvent.from_tag(long.version, long.tag_key(), tags[long.tag_key()])
    assert restored is not None
    assert reason[:MAX_REASON_CHARS].startswith(restored.reason)


def test_summary_tags_are_readable() -> None:
    event = AliasEvent(CHAMPION, "3", GATE, 1_800_000_000.0, "2", "better", "ci", {"f1_macro": 0.9})
    tags = event.to_tags()
    assert tags["champion.at"] == "2027-01-15T08:00:00.000Z"
    assert tags["champion.previous"] == "2"
    assert tags["champion.action"] == "gate"
    assert tags["champion.by"] == "ci"
    assert float(tags["champion.f1_macro"]) == 0.9
    assert json.loads(tags[event.tag_key()])["reason"] == "better"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model_type", "nblr"),
        (EVENT_TAG_PREFIX + "1", "not json"),
        (EVENT_TAG_PREFIX + "1", "[]"),
        (EVENT_TAG_PREFIX + "1", '{"alias": "champion"}'),
        (EVENT_TAG_PREFIX + "1", '{"alias": "c", "action": "gate", "at": "soon"}'),
        # A time that is no date (json.loads reads Infinity and NaN), or not a number at all.
        *(
            (EVENT_TAG_PREFIX + "1", f'{{"alias": "c", "action": "gate", "at": {at}}}')
            for at in ("Infinity", "-Infinity", "NaN", "1e300", "-1e20", "true", "null", "[1]")
        ),
        (
            EVENT_TAG_PREFIX + "1",
            '{"alias": "c", "action": "gate", "at": 1, "metrics": {"f1": NaN}}',
        ),
    ],
)
def test_other_or_damaged_tags_are_not_events(key: str, value: str) -> None:
    assert AliasEvent.from_tag("1", key, value) is None


def _event(version: str, action: str, at: float, previous: str | None = None) -> AliasEvent:
    return AliasEvent(CHAMPION, version, action, at, previous)


def test_history_merges_all_versions_in_time_order() -> None:
    v1 = ModelVersion("M", "1", "r1", tags=_event("1", GATE, 10).to_tags())
    v2 = ModelVersion(
        "M",
        "2",
        "r2",
        tags={
            **AliasEvent(CHALLENGER, "2", GATE, 20).to_tags(),
            **_event("2", PROMOTE, 30, "1").to_tags(),
        },
    )
    history = alias_history([v2, v1])
    assert [(e.version, e.alias, e.at) for e in history] == [
        ("1", CHAMPION, 10),
        ("2", CHALLENGER, 20),
        ("2", CHAMPION, 30),
    ]
    assert [e.at for e in alias_history([v1, v2], CHAMPION)] == [10, 30]


def test_an_unreadable_event_tag_is_left_out_of_the_history_and_named() -> None:
    corrupt = json.loads(json.dumps(_event("2", PROMOTE, 30, "1").to_tags()))
    corrupt[_event("2", PROMOTE, 30).tag_key()] = (
        '{"alias": "champion", "action": "promote", "at": Infinity, "previous": "1"}'
    )
    v1 = ModelVersion("M", "1", "r1", tags=_event("1", GATE, 10).to_tags())
    v2 = ModelVersion("M", "2", "r2", tags=corrupt)

    assert [(e.version, e.at) for e in alias_history([v1, v2])] == [("1", 10)]
    assert unreadable_event_tags([v1, v2]) == [("2", EVENT_TAG_PREFIX + "0000000030000")]


def test_rollback_walks_back_one_champion_at_a_time() -> None:
    history = [_event("1", GATE, 1), _event("2", GATE, 2, "1"), _event("3", PROMOTE, 3, "2")]
    assert champion_stack(history) == ["1", "2", "3"]
    assert rollback_target(history, "3") == "2"
    history.append(_event("2", ROLLBACK, 4, "3"))
    assert champion_stack(history) == ["1", "2"]
    assert rollback_target(history, "2") == "1"
    history.append(_event("1", ROLLBACK, 5, "2"))
    with pytest.raises(PromotionRefusedError, match="first champion"):
        rollback_target(history, "1")


def test_a_promotion_after_a_rollback_is_undone_by_the_next_rollback() -> None:
    history = [
        _event("1", GATE, 1),
        _event("2", GATE, 2, "1"),
        _event("1", ROLLBACK, 3, "2"),
        _event("3", GATE, 4, "1"),
    ]
    assert rollback_target(history, "3") == "1"


def test_rollback_needs_a_champion_the_history_knows() -> None:
    history = [_event("1", GATE, 1), _event("2", GATE, 2, "1")]
    with pytest.raises(PromotionRefusedError, match=r"^no version holds @champion: there is"):
        rollback_target(history, None)
    with pytest.raises(PromotionRefusedError, match="outside this tool"):
        rollback_target(history, "7")


def test_a_recorded_move_that_never_happened_does_not_mislead_rollback() -> None:
    # The process died between tagging version 3 and moving the alias: 2 is still champion.
    history = [_event("1", GATE, 1), _event("2", GATE, 2, "1"), _event("3", GATE, 3, "2")]
    assert rollback_target(history, "2") == "1"


def test_a_move_that_never_happened_is_never_a_rollback_target() -> None:
    # Version 3's move was recorded, then the process died before the alias moved: 2 stayed
    # champion, as the next recorded move's `previous` says.
    phantom = [_event("1", GATE, 1), _event("2", GATE, 2, "1"), _event("3", GATE, 3, "2")]
    later = [*phantom, _event("4", GATE, 4, "2")]
    assert champion_stack(later) == ["1", "2", "4"]
    assert rollback_target(later, "4") == "2"
    # Rolled back from 2 to 1, the champion has nowhere further back to go: not to 3.
    rolled_back = [*phantom, _event("1", ROLLBACK, 4, "2")]
    assert champion_stack(rolled_back) == ["1"]
    with pytest.raises(PromotionRefusedError, match="first champion"):
        rollback_target(rolled_back, "1")


@given(st.lists(st.integers(1, 50).map(str), min_size=1, max_size=12, unique=True))
def test_n_rollbacks_retrace_n_promotions(versions: list[str]) -> None:
    history = [
        _event(v, PROMOTE, i, versions[i - 1] if i else None) for i, v in enumerate(versions)
    ]
    current = versions[-1]
    for expected in reversed(versions[:-1]):
        target = rollback_target(history, current)
        assert target == expected
        history.append(_event(target, ROLLBACK, len(history), current))
        current = target
    with pytest.raises(PromotionRefusedError):
        rollback_target(history, current)


def test_a_previous_champion_without_records_of_its_own_is_not_skipped() -> None:
    # Version 3 was deleted (its tags, so its own moves, went with it) or got @champion outside
    # this tool: version 4's move still says that 3 held @champion before it.
    history = [_event("1", GATE, 1), _event("2", GATE, 2, "1"), _event("4", PROMOTE, 4, "3")]
    assert champion_stack(history) == ["1", "2", "3", "4"]
    assert rollback_target(history, "4") == "3"
    history.append(_event("3", ROLLBACK, 5, "4"))
    assert rollback_target(history, "3") == "2"


def test_a_reason_cut_to_fit_keeps_all_that_fits() -> None:
    # Escaped control characters first, then letters: the cut falls among the letters, one of
    # which takes exactly one character, so the event fills its tag to the last character.
    reason = "\x01" * 800 + "a" * 200
    event = AliasEvent(CHAMPION, "3", PROMOTE, 1_800_000_000.0, "2", reason, "alice")
    value = event.to_tags()[event.tag_key()]
    assert len(value) == MAX_TAG_VALUE_LENGTH
    restored = AliasEvent.from_tag("3", event.tag_key(), value)
    assert restored is not None
    assert restored.reason == reason[: len(restored.reason)]
    assert 800 < len(restored.reason) < MAX_REASON_CHARS
