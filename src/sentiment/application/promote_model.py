"""PromoteModel: a person moves @champion to a version, with a reason that is kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sentiment.application.registry_ops import (
    current_holder,
    labels_served,
    move_alias,
    require_finished,
    resolve,
)
from sentiment.domain.errors import PromotionRefusedError
from sentiment.domain.model import ModelVersion
from sentiment.domain.model_ref import ModelRef
from sentiment.domain.ports import ModelRegistry
from sentiment.domain.promotion import (
    CHALLENGER,
    CHAMPION,
    PROMOTE,
    AliasEvent,
    PromotionPolicy,
    label_change,
    new_labels,
)

F1 = "f1_macro"


@dataclass(frozen=True, slots=True)
class PromoteModelCommand:
    ref: ModelRef
    reason: str
    actor: str = ""
    allow_new_labels: bool = False
    """Promote a version that predicts labels the champion does not (a deliberate change)."""


@dataclass(frozen=True, slots=True)
class PromoteModelResult:
    version: str
    previous: str | None
    f1: float
    previous_f1: float | None
    warnings: tuple[str, ...]
    """What a careful person would want pointed out (the move happened anyway)."""
    challenger_cleared: bool


def require_evaluated(version: ModelVersion) -> float:
    """The version's training macro-F1; refuses a version without a finished evaluation."""
    require_finished(version)
    if F1 not in version.metrics:
        raise PromotionRefusedError(
            f"version {version.version} has no {F1} metric: it was never evaluated"
        )
    return version.metrics[F1]


class PromoteModel:
    """Make a version the champion by hand (the gate's decision can be overridden, never hidden).

    Refused: a missing reason, the current champion, a version whose training run did not finish
    or logged no macro-F1, a version whose artifact does not load, a version that predicts a
    label the champion does not (unless `allow_new_labels`: a deliberate change of labels).
    The scores compared in the warnings are each version's own held-out scores, which may come
    from different splits.
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

    def execute(self, command: PromoteModelCommand) -> PromoteModelResult:
        reason = " ".join(command.reason.split())
        if not reason:
            raise PromotionRefusedError("a promotion needs a reason (--reason TEXT)")
        registry = self._registry
        target = resolve(registry, command.ref)
        champion = current_holder(registry, CHAMPION)
        if champion is not None and champion.version == target.version:
            raise PromotionRefusedError(f"version {target.version} already holds @champion")
        f1 = require_evaluated(target)
        classes = registry.load(target.version).classes  # refuse a version that would not serve
        previous_f1 = champion.metrics.get(F1) if champion else None

        warnings: list[str] = []
        if champion is not None:
            known = labels_served(registry, champion, fallback=classes)
            unknown = new_labels(classes, known)
            if unknown and not command.allow_new_labels:
                raise PromotionRefusedError(
                    label_change(target.version, unknown, champion.version, known)
                )
            if unknown:
                warnings.append(
                    f"it predicts label(s) {', '.join(map(repr, unknown))} that champion "
                    f"v{champion.version} did not: clients now get them"
                )
        if f1 < self._policy.floor:
            warnings.append(f"its macro-F1 {f1:.4f} is below the floor {self._policy.floor:.4f}")
        if champion is not None and previous_f1 is not None and f1 < previous_f1:
            warnings.append(
                f"its macro-F1 {f1:.4f} is below champion v{champion.version}'s "
                f"{previous_f1:.4f} (each on its own held-out split)"
            )
        metrics = {F1: f1}
        if previous_f1 is not None:
            metrics["previous_f1_macro"] = previous_f1
        move_alias(
            registry,
            AliasEvent(
                alias=CHAMPION,
                version=target.version,
                action=PROMOTE,
                at=self._clock(),
                previous=champion.version if champion else None,
                reason=reason,
                actor=command.actor,
                metrics=metrics,
            ),
            champion,
        )
        cleared = CHALLENGER in target.aliases
        if cleared:
            registry.delete_alias(CHALLENGER)
        return PromoteModelResult(
            version=target.version,
            previous=champion.version if champion else None,
            f1=f1,
            previous_f1=previous_f1,
            warnings=tuple(warnings),
            challenger_cleared=cleared,
        )
