"""DescribeModel: every version of the registered model, and the history of its aliases."""

from __future__ import annotations

from dataclasses import dataclass

from sentiment.domain.errors import ModelNotFoundError
from sentiment.domain.model import ModelVersion
from sentiment.domain.ports import ModelRegistry
from sentiment.domain.promotion import (
    CHALLENGER,
    CHAMPION,
    AliasEvent,
    alias_history,
    unreadable_event_tags,
)


@dataclass(frozen=True, slots=True)
class DescribeModelCommand:
    alias: str | None = None
    """Only this alias's history (None: every alias); `champion` or `@champion`."""


@dataclass(frozen=True, slots=True)
class DescribeModelResult:
    model_name: str
    versions: tuple[ModelVersion, ...]
    """Oldest first."""
    history: tuple[AliasEvent, ...]
    """Oldest first."""
    unreadable: tuple[tuple[str, str], ...] = ()
    """(version, tag key) of the alias event tags that could not be read (edited by hand?):
    not in `history`."""


class DescribeModel:
    """Every version, and the alias history (of one alias, or of all).

    Refused (ModelNotFoundError): an alias that no version holds, no move ever recorded, and
    that is neither @champion nor @challenger: a typo would otherwise read as "no recorded move".
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry

    def execute(self, command: DescribeModelCommand) -> DescribeModelResult:
        versions = tuple(self._registry.list_versions())
        history = alias_history(versions)
        alias = command.alias.removeprefix("@") if command.alias is not None else None
        if alias is not None:
            known = {CHAMPION, CHALLENGER} | {e.alias for e in history}
            known |= {a for v in versions for a in v.aliases}
            if alias not in known:
                raise ModelNotFoundError(
                    f"{self._registry.model_name} has no alias @{alias}: no version holds it "
                    f"and no move of it was recorded (aliases: "
                    f"{', '.join('@' + a for a in sorted(known))})"
                )
            history = [e for e in history if e.alias == alias]
        return DescribeModelResult(
            model_name=self._registry.model_name,
            versions=versions,
            history=tuple(history),
            unreadable=tuple(unreadable_event_tags(versions)),
        )
