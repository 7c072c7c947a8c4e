"""How a long use case tells its caller which stage it is in."""

from __future__ import annotations

from typing import Protocol


class ProgressObserver(Protocol):
    def stage_started(self, stage: str) -> None: ...

    def stage_finished(self, stage: str, seconds: float, detail: str = "") -> None: ...


class SilentProgress:
    """An observer that ignores everything."""

    def stage_started(self, stage: str) -> None:
        return None

    def stage_finished(self, stage: str, seconds: float, detail: str = "") -> None:
        return None
