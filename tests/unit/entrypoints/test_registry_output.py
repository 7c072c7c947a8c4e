"""What `registry list` and `registry history` print, without a registry: the tables (newest
version first, columns as wide as their widest cell, "-" or "?" for what is not known, the last
move of each version) and the JSON documents of a version and of an alias move."""

from __future__ import annotations

from sentiment.application.describe_model import DescribeModelResult
from sentiment.domain.model import ModelVersion
from sentiment.domain.promotion import AliasEvent
from sentiment.entrypoints.registry import event_json, render_history, render_list, version_json

VERSIONS = (
    ModelVersion(
        "M",
        "1",
        "r1",
        ("champion",),
        {"model_type": "nblr"},
        {"f1_macro": 0.81234},
        created_at=1_700_000_000.0,
        run_status="FINISHED",
    ),
    ModelVersion("M", "2", "r2"),  # nothing known: no score, run or registration time
    ModelVersion(
        "M",
        "10",
        "r10",
        ("challenger", "shadow"),
        metrics={"f1_macro": 0.9, "accuracy": 0.91},
        created_at=1_700_086_400.5,
        run_status="RUNNING",
    ),
)
HISTORY = (
    AliasEvent("champion", "1", "gate", 1_700_000_100.0, metrics={"f1_macro": 0.81234}),
    AliasEvent("challenger", "10", "gate", 1_700_086_500.0, reason="below margin"),
    AliasEvent(
        "champion",
        "1",
        "promote",
        1_700_090_000.0,
        previous="10",
        reason="canary ok",
        actor="ann (registry)",
        data="holdout abc123",
    ),
)
DESCRIBED = DescribeModelResult("M", VERSIONS, HISTORY)


def test_the_list_is_a_table_newest_version_first_with_each_versions_last_move() -> None:
    assert render_list(DESCRIBED).splitlines() == [
        "M: 3 versions",
        "version  aliases              macro-F1  run       registered            last move",
        "10       @challenger @shadow  0.9000    RUNNING   2023-11-15 22:13:20Z  "
        "gate -> @challenger 2023-11-15 22:15:00Z: below margin",
        "2                             -         ?         -",
        "1        @champion            0.8123    FINISHED  2023-11-14 22:13:20Z  "
        "promote -> @champion 2023-11-15 23:13:20Z: canary ok",
    ]


def test_a_list_of_one_version_says_version_and_of_none_says_so() -> None:
    assert render_list(DescribeModelResult("M", VERSIONS[:1], ())).splitlines() == [
        "M: 1 version",
        "version  aliases    macro-F1  run       registered            last move",
        "1        @champion  0.8123    FINISHED  2023-11-14 22:13:20Z",
    ]
    assert render_list(DescribeModelResult("M", (), ())) == "M: no registered version"


def test_the_history_is_a_table_oldest_move_first() -> None:
    assert render_history(DESCRIBED).splitlines() == [
        "M: alias history",
        "when                  alias        version  action   previous  macro-F1  by"
        "              reason",
        "2023-11-14 22:15:00Z  @champion    1        gate     -         0.8123    -",
        "2023-11-15 22:15:00Z  @challenger  10       gate     -         -         -"
        "               below margin",
        "2023-11-15 23:13:20Z  @champion    1        promote  10        -         ann (registry)"
        "  canary ok",
    ]
    assert render_history(DescribeModelResult("M", VERSIONS, ())) == ("M: no recorded alias move")


def test_the_json_of_a_version_and_of_a_move() -> None:
    assert version_json(VERSIONS[2]) == {
        "version": "10",
        "aliases": ["challenger", "shadow"],
        "run_id": "r10",
        "run_status": "RUNNING",
        "created_at": 1_700_086_400.5,
        "metrics": {"f1_macro": 0.9, "accuracy": 0.91},
        "tags": {},
    }
    assert version_json(VERSIONS[0])["tags"] == {"model_type": "nblr"}
    assert event_json(HISTORY[2]) == {
        "at": "2023-11-15T23:13:20.000Z",
        "alias": "champion",
        "version": "1",
        "action": "promote",
        "previous": "10",
        "reason": "canary ok",
        "actor": "ann (registry)",
        "metrics": {},
        "data": "holdout abc123",
    }
    assert event_json(HISTORY[0])["metrics"] == {"f1_macro": 0.81234}
