"""GateCandidate: after training, the quality gate decides between @champion and @challenger."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sentiment.application.registry_ops import current_holder, move_alias, require_finished, score
from sentiment.domain.errors import ModelLoadError
from sentiment.domain.model import LabelledDataset
from sentiment.domain.ports import ModelRegistry
from sentiment.domain.promotion import (
    CHALLENGER,
    CHAMPION,
    GATE,
    AliasEvent,
    GateDecision,
    PromotionPolicy,
    label_change,
    new_labels,
)


@dataclass(frozen=True, slots=True)
class GateCandidateCommand:
    candidate_version: str
    holdout: LabelledDataset
    """The held-out data both the candidate and the champion are scored on."""
    actor: str = ""
    holdout_label: str = ""
    """How to name the held-out data in the record (default: its name and digest)."""


@dataclass(frozen=True, slots=True)
class GateCandidateResult:
    candidate_version: str
    promoted: bool
    alias: str
    """The alias the candidate received: `champion` or `challenger`."""
    reason: str
    candidate_f1: float
    candidate_accuracy: float
    champion_version: str | None
    """The champion it was compared with (None when there was none)."""
    champion_f1: float | None
    margin: float
    floor: float
    holdout_rows: int


class GateCandidate:
    """Score the candidate and the current champion, both as loaded from the registry, on the
    same held-out data; move @champion to the candidate only when the policy says so, else give
    it @challenger. Either way the candidate's tags record the decision and the scores.

    A candidate that predicts a label the champion does not know (trained on `0`/`1` where the
    champion says `negative`/`positive`) only gets @challenger: the champion cannot be scored on
    such labels, and the clients of the API would get labels they do not know.

    A champion whose artifact no longer loads cannot be scored; the candidate then only has to
    pass the floor (the reason says so). An unreachable registry stops the gate: no alias moves.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        policy: PromotionPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._policy = policy
        self._clock = clock

    def execute(self, command: GateCandidateCommand) -> GateCandidateResult:
        registry = self._registry
        candidate = registry.get_version(command.candidate_version)
        require_finished(candidate)
        holdout = command.holdout
        candidate_model = registry.load(candidate.version)
        labels = sorted(set(holdout.classes) | set(candidate_model.classes))
        candidate_scores = score(candidate_model, holdout, labels)

        champion = current_holder(registry, CHAMPION)
        champion_f1: float | None = None
        note = ""
        unknown: tuple[str, ...] = ()
        champion_classes: tuple[str, ...] = ()
        if champion is not None:
            try:
                champion_model = registry.load(champion.version)
            except ModelLoadError as exc:
                note = f" (champion v{champion.version} could not be scored: {exc})"
            else:
                champion_classes = champion_model.classes
                unknown = new_labels(candidate_model.classes, champion_classes)
                champion_f1 = score(champion_model, holdout, labels).macro_f1
        decision = self._policy.decide(
            candidate_scores.macro_f1,
            champion_f1,
            champion.version if champion_f1 is not None and champion else None,
        )
        if unknown and champion is not None:
            # The champion was scored on labels it cannot predict: the comparison says nothing.
            decision = GateDecision(
                False, label_change(candidate.version, unknown, champion.version, champion_classes)
            )
        alias = CHAMPION if decision.promote else CHALLENGER
        previous = champion if decision.promote else current_holder(registry, CHALLENGER)
        metrics = {
            "f1_macro": candidate_scores.macro_f1,
            "accuracy": candidate_scores.accuracy,
            "margin": self._policy.margin,
            "floor": self._policy.floor,
            "holdout_rows": float(len(holdout)),
        }
        if champion_f1 is not None:
            metrics["champion_f1_macro"] = champion_f1
        move_alias(
            registry,
            AliasEvent(
                alias=alias,
                version=candidate.version,
                action=GATE,
                at=self._clock(),
                previous=previous.version if previous else None,
                reason=decision.reason + note,
                actor=command.actor,
                metrics=metrics,
                data=command.holdout_label or _describe(holdout),
            ),
            previous,
        )
        return GateCandidateResult(
            candidate_version=candidate.version,
            promoted=decision.promote,
            alias=alias,
            reason=decision.reason + note,
            candidate_f1=candidate_scores.macro_f1,
            candidate_accuracy=candidate_scores.accuracy,
            champion_version=champion.version if champion else None,
            champion_f1=champion_f1,
            margin=self._policy.margin,
            floor=self._policy.floor,
            holdout_rows=len(holdout),
        )


def _describe(data: LabelledDataset) -> str:
    return f"{data.name} ({len(data)} rows, digest {data.digest})" if data.digest else data.name
