"""Promotion rules: the quality gate, alias events as version tags, and rollback (pure logic).

Every alias move is written as tags on the version that receives the alias: a readable summary
(`champion.at`, `champion.previous`, `champion.reason`, `champion.f1_macro`...) that the latest
move overwrites, and one event tag per move (`sentiment.alias_event.<ms>`, JSON) that nothing
overwrites. The events of all versions, in time order, are the model's alias history; rollback
replays the champion's history as an undo stack.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sentiment.domain.errors import PromotionRefusedError
from sentiment.domain.model import ModelVersion
from sentiment.domain.model_ref import MAX_TAG_VALUE_LENGTH

CHAMPION = "champion"
CHALLENGER = "challenger"
EVENT_TAG_PREFIX = "sentiment.alias_event."

GATE = "gate"
"""Action: the quality gate placed the alias after training."""
PROMOTE = "promote"
"""Action: a person promoted the version."""
ROLLBACK = "rollback"
"""Action: a person rolled the champion back to the version that held it before."""

MAX_REASON_CHARS = 1000
_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class GateDecision:
    promote: bool
    reason: str


@dataclass(frozen=True, slots=True)
class PromotionPolicy:
    """A candidate becomes champion when its macro-F1 reaches both the floor and the champion's
    macro-F1 plus the margin (on the same held-out data). Without a champion, the floor alone."""

    margin: float = 0.0
    floor: float = 0.80

    def __post_init__(self) -> None:
        if not (math.isfinite(self.floor) and 0.0 <= self.floor <= 1.0):
            raise ValueError(f"promotion floor must be within [0, 1], got {self.floor}")
        if not (math.isfinite(self.margin) and -1.0 <= self.margin <= 1.0):
            raise ValueError(f"promotion margin must be within [-1, 1], got {self.margin}")

    def decide(
        self, candidate_f1: float, champion_f1: float | None, champion_version: str | None = None
    ) -> GateDecision:
        if candidate_f1 + _TOLERANCE < self.floor:
            return GateDecision(
                False, f"macro-F1 {candidate_f1:.4f} is below the floor {self.floor:.4f}"
            )
        if champion_f1 is None:
            return GateDecision(
                True,
                f"no champion to beat; macro-F1 {candidate_f1:.4f} >= floor {self.floor:.4f}",
            )
        bar = champion_f1 + self.margin
        champion = f"champion v{champion_version}" if champion_version else "the champion"
        if candidate_f1 + _TOLERANCE < bar:
            return GateDecision(
                False,
                f"macro-F1 {candidate_f1:.4f} is below {champion}'s {champion_f1:.4f} "
                f"+ margin {self.margin:.4f} = {bar:.4f}",
            )
        return GateDecision(
            True,
            f"macro-F1 {candidate_f1:.4f} >= {champion}'s {champion_f1:.4f} "
            f"+ margin {self.margin:.4f}, and >= floor {self.floor:.4f}",
        )


def new_labels(candidate: Iterable[str], champion: Iterable[str]) -> tuple[str, ...]:
    """The labels a candidate can predict that the champion cannot, sorted.

    Any is a change of the serving contract (clients that know the champion's labels would get
    one they do not know), and a champion cannot be scored fairly on data labelled in them: such
    a candidate becomes champion only by hand, on purpose. Dropping a label is not a change here.
    """
    return tuple(sorted(set(candidate) - set(champion)))


def _quoted(labels: Iterable[str]) -> str:
    return ", ".join(map(repr, labels))


def label_change(version: str, labels: Iterable[str], champion: str, known: Iterable[str]) -> str:
    """Why a version that predicts `labels` unknown to the champion is not made champion."""
    return (
        f"version {version} predicts label(s) {_quoted(labels)} that champion v{champion} "
        f"does not (it predicts {_quoted(sorted(known))}): a change of labels is promoted by "
        "hand, with --allow-new-labels"
    )


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of an alias onto a version: who, when, from which version, why, on what scores."""

    alias: str
    version: str
    action: str
    at: float
    previous: str | None = None
    reason: str = ""
    actor: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    data: str = ""
    """What the metrics were measured on (a dataset name and digest), "" when not measured."""

    @property
    def when(self) -> str:
        """`at` as an ISO 8601 UTC timestamp."""
        return iso(self.at)

    def tag_key(self) -> str:
        return f"{EVENT_TAG_PREFIX}{round(self.at * 1000):013d}"

    def to_tags(self) -> dict[str, str]:
        """The event tag plus the readable summary tags, for the version that got the alias."""
        payload = {
            "alias": self.alias,
            "action": self.action,
            "at": self.at,
            "previous": self.previous,
            "reason": self.reason[:MAX_REASON_CHARS],
            "actor": self.actor,
            "metrics": dict(self.metrics),
            "data": self.data,
        }
        tags = {
            self.tag_key(): _event_json(payload),
            f"{self.alias}.at": self.when,
            f"{self.alias}.action": self.action,
            f"{self.alias}.previous": self.previous or "",
            f"{self.alias}.reason": self.reason[:MAX_REASON_CHARS],
            f"{self.alias}.by": self.actor,
        }
        if self.data:
            tags[f"{self.alias}.data"] = self.data
        for name, value in self.metrics.items():
            tags[f"{self.alias}.{name}"] = repr(float(value))
        return tags

    @classmethod
    def from_tag(cls, version: str, key: str, value: str) -> AliasEvent | None:
        """The event an event tag holds; None for another tag or an unreadable value.

        Unreadable: not JSON, a field missing, a time that is not a number or not a date (inf,
        nan, 1e300, true), a metric that is not a finite number. Tags are editable by hand."""
        if not key.startswith(EVENT_TAG_PREFIX):
            return None
        try:
            data = json.loads(value)
            metrics = {str(k): float(v) for k, v in dict(data.get("metrics") or {}).items()}
            previous = data.get("previous")
            at = data["at"]
            if isinstance(at, bool) or not all(map(math.isfinite, (*metrics.values(), float(at)))):
                return None
            iso(float(at))  # a date? (OverflowError, ValueError or OSError if not)
            return cls(
                alias=str(data["alias"]),
                version=version,
                action=str(data["action"]),
                at=float(at),
                previous=None if previous in (None, "") else str(previous),
                reason=str(data.get("reason", "")),
                actor=str(data.get("actor", "")),
                metrics=metrics,
                data=str(data.get("data", "")),
            )
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, OSError):
            return None


def _event_json(payload: dict[str, object]) -> str:
    """The event as one tag value: the reason's text as typed (escaped to \\uXXXX, a 1000-
    character Cyrillic reason would be 6000 characters), and cut further when what JSON still
    escapes (a control character: 6 characters) would take it over what a registry keeps."""
    value = _json(payload)
    if len(value) <= MAX_TAG_VALUE_LENGTH:
        return value
    reason = str(payload["reason"])
    room = MAX_TAG_VALUE_LENGTH - (len(value) - (len(_json(reason)) - 2))  # - all but its quotes
    kept = 0
    for char in reason:
        room -= len(_json(char)) - 2
        if room < 0:
            break
        kept += 1
    return _json({**payload, "reason": reason[:kept]})


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alias_history(versions: Iterable[ModelVersion], alias: str | None = None) -> list[AliasEvent]:
    """Every recorded alias move (of `alias`, or of all aliases), oldest first."""
    events = [
        event
        for v in versions
        for key, value in v.tags.items()
        if (event := AliasEvent.from_tag(v.version, key, value)) is not None
        and (alias is None or event.alias == alias)
    ]
    return sorted(events, key=lambda e: (e.at, int(e.version)))


def unreadable_event_tags(versions: Iterable[ModelVersion]) -> list[tuple[str, str]]:
    """(version, tag key) of every event tag that holds no readable event: left out of the
    history (and so of rollback's undo stack). An empty one is not among them: it is the record
    of a move that was refused, voided on purpose (`registry_ops.move_alias`)."""
    return [
        (v.version, key)
        for v in versions
        for key, value in sorted(v.tags.items())
        if key.startswith(EVENT_TAG_PREFIX)
        and value
        and AliasEvent.from_tag(v.version, key, value) is None
    ]


def champion_stack(events: Iterable[AliasEvent]) -> list[str]:
    """The champion's undo stack: versions that held @champion, the current one last.

    A promotion (by the gate or a person) pushes its version; a rollback pops the version it
    rolled back from, so a second rollback goes one further back instead of undoing the first.
    Each move names the version that really held @champion (`previous`): the versions stacked
    above it are moves that were recorded but never happened (the process died between the
    record and the alias move, see `registry_ops.move_alias`), and are dropped. A `previous`
    the stack lacks held @champion all the same (the alias was moved outside this tool, or the
    version was deleted with its records): it is stacked, so that a rollback goes back to it,
    or says that it cannot, instead of skipping it.
    """
    stack: list[str] = []
    for event in events:
        if event.alias != CHAMPION:
            continue
        if event.previous in stack:
            del stack[len(stack) - stack[::-1].index(event.previous) :]
        elif event.previous is not None:
            stack.append(event.previous)
        if event.action == ROLLBACK and stack and stack[-1] == event.previous:
            stack.pop()
        if not stack or stack[-1] != event.version:
            stack.append(event.version)
    return stack


def rollback_target(events: Iterable[AliasEvent], current: str | None) -> str:
    """The version @champion goes back to, from the champion's history and its current holder."""
    if current is None:
        raise PromotionRefusedError("no version holds @champion: there is nothing to roll back")
    stack = champion_stack(events)
    if current not in stack:
        raise PromotionRefusedError(
            f"version {current} holds @champion but the history does not say how it got there "
            "(was the alias moved outside this tool?); promote a version explicitly instead"
        )
    position = len(stack) - 1 - stack[::-1].index(current)
    if position == 0:
        raise PromotionRefusedError(
            f"version {current} is the first champion in the history: "
            "there is no earlier champion to roll back to"
        )
    return stack[position - 1]
