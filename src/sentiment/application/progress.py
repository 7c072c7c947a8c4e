"""How a long use case tells its caller which stage it is in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
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


class StageNote:
    """A callable that keeps the last detail a stage reported."""

    def __init__(self) -> None:
        self.text = ""

    def __call__(self, text: str) -> None:
        self.text = text


@contextmanager
def stage(progress: ProgressObserver, name: str) -> Iterator[StageNote]:
    """Report a stage's start, and its duration and last detail when the block completes."""
    progress.stage_started(name)
    started = time.perf_counter()
    note = StageNote()
    yield note
    progress.stage_finished(name, time.perf_counter() - started, note.text)
