"""RollbackChampion: @champion goes back to the version that held it before, from the history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sentiment.application.promote_model import F1, require_evaluated
from sentiment.application.registry_ops import current_holder, labels_served, move_alias
from sentiment.domain.errors import ModelNotFoundError, PromotionRefusedError
from sentiment.domain.ports import ModelRegistry
from sentiment.domain.promotion import (
    CHAMPION,
    ROLLBACK,
    AliasEvent,
    alias_history,
    rollback_target,
    unreadable_event_tags,
)


@dataclass(frozen=True, slots=True)
class RollbackChampionCommand:
    reason: str = ""
    actor: str = ""


@dataclass(frozen=True, slots=True)
class RollbackChampionResult:
    from_version: str
    to_version: str
    reason: str
    to_f1: float
    warnings: tuple[str, ...] = ()
    """What a careful person would want pointed out (the move happened anyway)."""


class RollbackChampion:
    """Undo the last champion change: the champion history is an undo stack (see
    `domain.promotion.champion_stack`), so a second rollback goes one step further back.

    Refused: no champion, no earlier champion, a target version that was deleted, did not
    finish its evaluation, or no longer loads.
    """

    def __init__(self, registry: ModelRegistry, clock: Callable[[], float] = time.time) -> None:
        self._registry = registry
        self._clock = clock

    def execute(self, command: RollbackChampionCommand) -> RollbackChampionResult:
        registry = self._registry
        champion = current_holder(registry, CHAMPION)
        versions = registry.list_versions()
        history = alias_history(versions, CHAMPION)
        target_version = rollback_target(history, champion.version if champion else None)
        assert champion is not None
        try:
            target = registry.get_version(target_version)
        except ModelNotFoundError as exc:
            raise PromotionRefusedError(
                f"the previous champion, version {target_version}, no longer exists: there is "
                "nothing to roll back to; promote a version explicitly"
            ) from exc
        f1 = require_evaluated(target)
        classes = registry.load(target.version).classes
        warnings = [
            f"version {version}: the alias event tag {key!r} cannot be read (edited by hand?); "
            f"version {target.version} was chosen without it"
            for version, key in unreadable_event_tags(versions)
        ]
        known = labels_served(registry, champion, fallback=classes)
        if set(classes) != set(known):
            # A rollback is the emergency lever: never refused for this, but never silent.
            warnings.append(
                f"the labels change: version {target.version} predicts "
                f"{', '.join(map(repr, sorted(classes)))}, version {champion.version} "
                f"predicted {', '.join(map(repr, sorted(known)))}"
            )
        reason = " ".join(command.reason.split()) or f"rollback from version {champion.version}"
        metrics = {F1: f1}
        if F1 in champion.metrics:
            metrics["previous_f1_macro"] = champion.metrics[F1]
        move_alias(
            registry,
            AliasEvent(
                alias=CHAMPION,
                version=target.version,
                action=ROLLBACK,
                at=self._clock(),
                previous=champion.version,
                reason=reason,
                actor=command.actor,
                metrics=metrics,
            ),
            champion,
        )
        return RollbackChampionResult(
            from_version=champion.version,
            to_version=target.version,
            reason=reason,
            to_f1=f1,
            warnings=tuple(warnings),
        )
