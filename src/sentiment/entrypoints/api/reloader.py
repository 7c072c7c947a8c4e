"""Live reload: the API follows its alias. Every `SENTIMENT_RELOAD_INTERVAL_S` (and on
`POST /admin/reload`) a check runs in a daemon thread, off the event loop and off every request:
resolve the reference, and when it points elsewhere load the new version, smoke-test it and swap
it in atomically (`ReloadModel`). Requests in flight keep the model they started with. A version
that fails is never served; the old one keeps serving and /model, /metrics and the log say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sentiment.application.load_model import LoadModelCommand
from sentiment.application.reload_model import (
    LOAD_FAILED,
    SWAPPED,
    ReloadCommand,
    ReloadModel,
    ReloadResult,
)
from sentiment.domain.errors import SentimentError
from sentiment.entrypoints.api.loader import run_in_daemon_thread
from sentiment.entrypoints.api.metrics import ApiMetrics

CHECK_FAILED = "unreachable"
logger = logging.getLogger("sentiment.api")


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """What /model reports about live reload."""

    interval_s: float
    checks: int
    last_check_at: float | None
    last_outcome: str | None
    last_message: str | None


class ModelWatcher:
    """Runs `ReloadModel` periodically and on demand, one check at a time."""

    def __init__(
        self,
        reload: ReloadModel,
        reference: LoadModelCommand,
        interval_s: float,
        metrics: ApiMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reload = reload
        self._reference = reference
        self._interval_s = interval_s
        self._metrics = metrics
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None  # one caller at a time waits for a check
        self._running = threading.Lock()  # one check at a time, even one nobody waits for
        self._status = WatchStatus(interval_s, 0, None, None, None)

    @property
    def status(self) -> WatchStatus:
        return self._status

    def start(self) -> None:
        """Start the periodic checks (call from the running event loop); 0 s: none."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        if self._interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._every_interval(), name="sentiment-reload")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check(self, force: bool = False) -> ReloadResult:
        """One check now. Raises what the registry raised when the check itself failed (the
        served model stays); a version that failed to load is a result, not an exception.

        The check and its bookkeeping (status, metrics, log) run together in a daemon thread: a
        caller that stops waiting (the start of a preloaded worker gives up after
        SENTIMENT_STARTUP_WAIT_S) leaves a check that still swaps a new version in, and that
        swap must not go unreported. Checks never overlap, even one left behind that way."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        command = ReloadCommand(self._reference, force=force)
        async with self._lock:
            return await run_in_daemon_thread(
                lambda: self._check_now(command), name="sentiment-model-reload"
            )

    def _check_now(self, command: ReloadCommand) -> ReloadResult:
        with self._running:
            try:
                result = self._reload.execute(command)
            except Exception as exc:
                if isinstance(exc, SentimentError):
                    self._checked(CHECK_FAILED, _describe(exc))
                    logger.warning("reload check failed, still serving: %s", _describe(exc))
                else:  # its text may hold anything: the log has it, /model only its type
                    self._checked(
                        CHECK_FAILED, f"unexpected {type(exc).__name__} (see the server log)"
                    )
                    logger.exception("reload check failed unexpectedly, still serving")
                raise
            self._checked(result.outcome, result.message)
            if result.outcome == SWAPPED and result.loaded is not None:
                self._metrics.model_loaded(result.loaded)
                logger.info("reload: %s", result.message)
            elif result.outcome == LOAD_FAILED:
                self._metrics.model_load_failed(result.error_type)
                logger.error("reload: %s", result.message, exc_info=result.unexpected)
            return result

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            # The check logged and counted its failure; the next one may succeed.
            with contextlib.suppress(Exception):
                await self.check()

    def _checked(self, outcome: str, message: str) -> None:
        at = self._clock()
        self._status = WatchStatus(self._interval_s, self._status.checks + 1, at, outcome, message)
        self._metrics.reload_checked(outcome, at)


def _describe(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
