"""DescribeModel: every version of the registered model, and the history of its aliases."""

from __future__ import annotations

from dataclasses import dataclass

from sentiment.domain.model import ModelVersion
from sentiment.domain.ports import ModelRegistry
from sentiment.domain.promotion import AliasEvent, alias_history, unreadable_event_tags


@dataclass(frozen=True, slots=True)
class DescribeModelCommand:
    alias: str | None = None
    """Only this alias's history (None: every alias)."""


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
    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry

    def execute(self, command: DescribeModelCommand) -> DescribeModelResult:
        versions = tuple(self._registry.list_versions())
        return DescribeModelResult(
            model_name=self._registry.model_name,
            versions=versions,
            history=tuple(alias_history(versions, command.alias)),
            unreadable=tuple(unreadable_event_tags(versions)),
        )
