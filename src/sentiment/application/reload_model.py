"""ReloadModel: follow the configured reference; swap in a new version only once it has loaded
and passed its smoke test. Anything else leaves the served model serving.

One instance serves one process for its whole life: it remembers which versions failed to load
and retries each of them with bounded exponential backoff (a forced check retries at once), so a
broken artifact is not downloaded again on every check.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sentiment.application.backoff import Backoff
from sentiment.application.load_model import LoadedModel, LoadModel, LoadModelCommand
from sentiment.application.serving import LoadFailure, ServedModel
from sentiment.domain.errors import ModelCrashError, SentimentError

UNCHANGED = "unchanged"
"""The reference still points at the served version."""
SWAPPED = "swapped"
"""A new version loaded, passed its smoke test and is served now."""
LOAD_FAILED = "load_failed"
"""The reference points at a version that did not load or failed its smoke test."""
SKIPPED = "skipped"
"""Nothing tried: no model served yet (the startup loader owns that), or a failed version whose
next attempt is not due yet."""


@dataclass(frozen=True, slots=True)
class ReloadCommand:
    reference: LoadModelCommand
    force: bool = False
    """Retry a failed version now, and load even before the startup loader succeeded."""


@dataclass(frozen=True, slots=True)
class ReloadResult:
    outcome: str
    message: str
    serving: str | None
    """The version served after the check (None: none)."""
    previous: str | None
    """The version served before the check."""
    candidate: str | None
    """The version the reference points at (None when the check did not resolve it)."""
    error_type: str = ""
    loaded: LoadedModel | None = None
    """The model swapped in (SWAPPED only)."""
    unexpected: Exception | None = None
    """LOAD_FAILED by an error that is not a SentimentError, or by a model that raised one on its
    smoke test (ModelCrashError): `message` names only its type (its text may hold anything), so
    whoever logs the result logs this with its traceback."""


@dataclass(frozen=True, slots=True)
class _Failed:
    attempts: int
    retry_at: float


class ReloadModel:
    """One check: resolve the reference; unchanged -> nothing; changed -> load, smoke-test,
    swap. Raises what resolving raises (RegistryUnavailableError...): the caller keeps serving."""

    def __init__(
        self,
        load_model: LoadModel,
        served: ServedModel,
        backoff: Backoff,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._load_model = load_model
        self._served = served
        self._backoff = backoff
        self._clock = clock
        self._rand = rand  # the backoff's jitter: processes that fail together retry apart
        self._failed: dict[str, _Failed] = {}

    def execute(self, command: ReloadCommand) -> ReloadResult:
        current = self._served.current
        before = current.version if current else None
        if current is None and not command.force:
            return ReloadResult(
                SKIPPED, "no model served yet: the startup loader is still trying", None, None, None
            )
        resolved = self._load_model.resolve(command.reference)
        candidate = resolved.version.version
        if current is not None and candidate == current.version:
            if (resolved.resolved_by, resolved.alias, resolved.version.aliases) != (
                current.resolved_by,
                current.alias,
                current.info.aliases,
            ):  # same artifact, new facts (now through the alias, a new alias...): no reload
                self._served.swap(
                    replace(
                        current,
                        info=resolved.version,
                        resolved_by=resolved.resolved_by,
                        alias=resolved.alias,
                    )
                )
            return ReloadResult(
                UNCHANGED, f"still version {candidate}", candidate, before, candidate
            )
        failed = self._failed.get(candidate)
        now = self._clock()
        if failed is not None and not command.force and now < failed.retry_at:
            return ReloadResult(
                SKIPPED,
                f"version {candidate} failed to load {failed.attempts} time(s); next attempt in "
                f"{failed.retry_at - now:.1f} s",
                before,
                before,
                candidate,
            )
        try:
            loaded = self._load_model.load(resolved, command.reference)
        except Exception as exc:  # noqa: BLE001 - whatever breaks, the served model stays
            return self._failure(candidate, before, exc, failed, now)
        self._failed.pop(candidate, None)
        self._served.swap(loaded)
        return ReloadResult(
            SWAPPED,
            f"serving version {candidate}"
            + (f" instead of version {before}" if before else "")
            + f", loaded and checked in {loaded.load_seconds:.2f} s",
            candidate,
            before,
            candidate,
            loaded=loaded,
        )

    def _failure(
        self,
        candidate: str,
        before: str | None,
        exc: Exception,
        failed: _Failed | None,
        now: float,
    ) -> ReloadResult:
        attempts = failed.attempts + 1 if failed else 1
        delay = self._backoff.delay(attempts, self._rand())
        self._failed[candidate] = _Failed(attempts, now + delay)
        if isinstance(exc, SentimentError):
            detail = " ".join(str(exc).split()) or type(exc).__name__
        else:
            detail = f"unexpected {type(exc).__name__} while loading (see the server log)"
        still = f"still serving version {before}" if before else "nothing is served"
        message = f"version {candidate} is not served ({still}): {detail}"
        self._served.record_failure(
            LoadFailure(
                message=message,
                error_type=type(exc).__name__,
                attempt=attempts,
                at=now,
                retry_in_s=delay,
            )
        )
        return ReloadResult(
            LOAD_FAILED,
            message,
            before,
            before,
            candidate,
            error_type=type(exc).__name__,
            unexpected=exc if _hides_its_cause(exc) else None,
        )


def _hides_its_cause(exc: Exception) -> bool:
    """Does the message of `exc` leave out what went wrong (for the log to tell)?"""
    return isinstance(exc, ModelCrashError) or not isinstance(exc, SentimentError)
