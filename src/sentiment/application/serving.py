"""ServedModel: the model a server answers with, swapped atomically, plus why it is not ready.

A request reads `current` once and keeps that object until it answers, so a swap never changes
the model under a request in flight: new requests see the new model, old ones finish on the old.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sentiment.application.load_model import LoadedModel
from sentiment.domain.errors import ModelNotReadyError


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """The last failed attempt to load a model."""

    message: str
    error_type: str
    attempt: int  # consecutive failures so far
    at: float  # seconds since the epoch
    retry_in_s: float | None = None  # None: no retry is scheduled


@dataclass(frozen=True, slots=True)
class ServingStatus:
    """A consistent snapshot: what is served, and the last failure since the last swap."""

    current: LoadedModel | None
    last_failure: LoadFailure | None
    swaps: int

    @property
    def ready(self) -> bool:
        return self.current is not None


class ServedModel:
    """Holds the served model; thread-safe, with an atomic swap."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._current: LoadedModel | None = None
        self._last_failure: LoadFailure | None = None
        self._swaps = 0
        self._clock = clock
        self._created_at = clock()

    @property
    def current(self) -> LoadedModel | None:
        """The model to answer with, or None before the first successful load."""
        return self._current  # one reference read: atomic

    def require(self) -> LoadedModel:
        """The model to answer with. Raises ModelNotReadyError (with the reason) when none is."""
        current = self._current
        if current is None:
            failure = self._last_failure
            raise ModelNotReadyError(
                self.not_ready_reason(), failure.retry_in_s if failure is not None else None
            )
        return current

    def swap(self, model: LoadedModel) -> LoadedModel | None:
        """Serve `model` from now on; returns the model it replaces. Clears the last failure."""
        with self._lock:
            previous, self._current = self._current, model
            self._last_failure = None
            self._swaps += 1
            return previous

    def record_failure(self, failure: LoadFailure) -> None:
        """Remember a failed load; what is served (if anything) stays served."""
        with self._lock:
            self._last_failure = failure

    def status(self) -> ServingStatus:
        with self._lock:
            return ServingStatus(self._current, self._last_failure, self._swaps)

    def not_ready_reason(self) -> str:
        status = self.status()
        if status.current is not None:
            return ""
        failure = status.last_failure
        if failure is None:
            waited = max(0.0, self._clock() - self._created_at)
            return f"no model loaded yet: the first load is in progress ({waited:.1f} s so far)"
        reason = f"no model loaded yet: {failure.message}"
        if failure.retry_in_s is not None:
            reason += (
                f" (attempt {failure.attempt} failed; retrying within {failure.retry_in_s:.1f} s)"
            )
        return reason
