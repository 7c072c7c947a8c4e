"""Loading the served model in the background, retrying with bounded exponential backoff.

The load runs in a daemon thread (the registry client blocks), never on the event loop and never
on a request. Until it succeeds the app answers /health, and 503 with the reason elsewhere;
after it succeeds the model is swapped into the `ServedModel` holder and the loader ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sentiment.application.backoff import Backoff
from sentiment.application.batching import contained
from sentiment.application.load_model import LoadedModel, LoadModel, LoadModelCommand
from sentiment.application.serving import LoadFailure, ServedModel
from sentiment.domain.errors import ModelCrashError, SentimentError
from sentiment.entrypoints.api.metrics import ApiMetrics

T = TypeVar("T")
logger = logging.getLogger("sentiment.api")


async def run_in_daemon_thread(call: Callable[[], T], name: str = "sentiment-worker") -> T:
    """Run a blocking call in a daemon thread and await its result.

    Unlike the default executor, a daemon thread never holds up process exit when the registry
    hangs; if the awaiting task is cancelled, the result is dropped. What the call raises that
    is not an Exception is raised as a RunAbortedError (`contained`).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def target() -> None:
        try:
            # No signal arrives in this thread: a SystemExit or KeyboardInterrupt is the call's
            # own (a model's smoke test), and let through it would stop the event loop.
            result = contained(call)
        except BaseException as exc:  # noqa: BLE001 - handed over to the awaiting task
            error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


class BackgroundLoader:
    """Loads the configured model until it succeeds, then swaps it in."""

    def __init__(
        self,
        load_model: LoadModel,
        command: LoadModelCommand,
        served: ServedModel,
        backoff: Backoff,
        metrics: ApiMetrics,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load_model = load_model
        self._command = command
        self._served = served
        self._backoff = backoff
        self._metrics = metrics
        self._rand = rand
        self._clock = clock
        self._task: asyncio.Task[LoadedModel] | None = None
        self._attempted: asyncio.Event | None = None

    def start(self) -> None:
        """Start loading in the background (call from the running event loop)."""
        if self._task is None:
            self._attempted = asyncio.Event()
            self._task = asyncio.create_task(self.run(), name="sentiment-model-loader")

    async def wait_first_attempt(self, timeout_s: float) -> None:
        """Wait until the first attempt ends (either way), at most `timeout_s` seconds."""
        if self._attempted is None or timeout_s <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), timeout_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def load_now(self) -> LoadedModel | None:
        """One attempt in this thread, before any event loop runs: the preload of a server that
        forks its workers afterwards (`serve --workers N`). None when it failed (logged); each
        worker's own loader then keeps trying in the background."""
        try:
            loaded = self._load_model.execute(self._command)
        except Exception as exc:  # the workers retry on their own
            message = str(exc) if isinstance(exc, SentimentError) else type(exc).__name__
            logger.warning(
                "preload failed, each worker loads on its own: %s",
                message,
                exc_info=exc if isinstance(exc, ModelCrashError) else None,
            )
            return None
        self._served.swap(loaded)
        self._metrics.model_loaded(loaded)
        self._log_loaded(loaded, "preloaded")
        return loaded

    async def run(self) -> LoadedModel:
        """Attempt, back off, attempt again... until a model is loaded; returns it."""
        failures = 0
        while True:
            try:
                loaded = await run_in_daemon_thread(
                    lambda: self._load_model.execute(self._command), name="sentiment-model-load"
                )
            except Exception as exc:  # noqa: BLE001 - every failure is retried
                failures += 1
                delay = self._backoff.delay(failures, self._rand())
                self._record_failure(exc, failures, delay)
                self._mark_attempted()
                await asyncio.sleep(delay)
                continue
            self._served.swap(loaded)
            self._metrics.model_loaded(loaded)
            self._log_loaded(loaded, f"after {failures} failed attempt(s)" if failures else "")
            self._mark_attempted()
            return loaded

    def _log_loaded(self, loaded: LoadedModel, note: str) -> None:
        logger.info(
            "serving %s version %s (%s), loaded in %.2f s%s",
            loaded.name,
            loaded.version,
            f"@{loaded.alias}" if loaded.alias else f"resolved by {loaded.resolved_by}",
            loaded.load_seconds,
            f", {note}" if note else "",
        )

    def _record_failure(self, exc: Exception, failures: int, delay: float) -> None:
        if isinstance(exc, ModelCrashError):  # its message names the type, the log the rest
            message = str(exc)
            logger.error("model load failed (attempt %d): %s", failures, message, exc_info=exc)
        elif isinstance(exc, SentimentError):
            message = str(exc) or type(exc).__name__
            logger.warning("model load failed (attempt %d): %s", failures, message)
        else:
            message = f"unexpected {type(exc).__name__} while loading (see the server log)"
            logger.exception("model load failed (attempt %d) unexpectedly", failures)
        self._served.record_failure(
            LoadFailure(
                message=message,
                error_type=type(exc).__name__,
                attempt=failures,
                at=self._clock(),
                retry_in_s=delay,
            )
        )
        self._metrics.model_load_failed(type(exc).__name__)

    def _mark_attempted(self) -> None:
        if self._attempted is not None:
            self._attempted.set()
