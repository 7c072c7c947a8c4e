"""MicroBatcher: concurrent single items grouped into one vectorized call, off the event loop.

Each caller awaits `submit(key, item)`. Items wait in a FIFO queue; one drainer task takes up to
`max_size` of them at a time and runs them in one worker thread as `run(key, items)`, one call
per distinct key in the batch (a key is the model that must answer: a request keeps the model it
read, even when a new one is swapped in while it waits). Results are handed back to each caller
in order; an error is handed to the callers it concerns only: when a call for several items
fails, each item is retried alone, so one bad item never fails the others. A `run` that raises a
BaseException that is not an Exception (SystemExit, KeyboardInterrupt, CancelledError, its own
subclass) fails the same way, as a `RunAbortedError` naming only the type: it cannot stop the
drainer, and later items are served.

Adaptive: while the worker is busy, new items queue up and form the next batch by themselves. When
the worker is free, a lone item goes at once (no added latency at low load); only when the
previous batch held more than one item (there is concurrency) does the drainer linger for the
batch to fill, until its oldest item has waited `max_wait_s`, and it goes as soon as it holds
`max_size` items.
A caller cancelled while it waits is simply dropped; the others are not disturbed.

`observe(size, waited_s)`, when given, hears of every batch as it is handed to the worker thread:
how many items it holds and how long its oldest item waited in the queue (lingering, or behind
the batch before it). The API turns these into metrics; what it raises is ignored, so a metric
never stalls a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
T = TypeVar("T")
R = TypeVar("R")
V = TypeVar("V")


@dataclass(slots=True)
class _Pending(Generic[K, T, R]):
    key: K
    item: T
    future: asyncio.Future[R]
    queued_at: float  # loop time


class MicroBatcher(Generic[K, T, R]):
    """Groups concurrent `submit` calls into `run(key, items)` calls in one worker thread."""

    def __init__(
        self,
        run: Callable[[K, Sequence[T]], Sequence[R]],
        max_size: int,
        max_wait_s: float,
        thread_name: str = "sentiment-batch",
        observe: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be at least 0, got {max_wait_s}")
        self._run = run
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._thread_name = thread_name
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[_Pending[K, T, R]] = deque()
        self._drainer: asyncio.Task[None] | None = None
        self._full: asyncio.Future[None] | None = None  # set when lingering and the batch fills
        self._last_size = 0
        self._observe = observe

    async def submit(self, key: K, item: T) -> R:
        """The result of `run(key, [item, ...])` for this item (or what it raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append(_Pending(key, item, future, loop.time()))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain(), name="sentiment-batch-drainer")
        elif (
            self._full is not None and not self._full.done() and len(self._pending) >= self.max_size
        ):
            self._full.set_result(None)
        return await future

    async def close(self) -> None:
        """Cancel the callers still waiting and release the worker thread (a later `submit`
        starts afresh)."""
        drainer, self._drainer = self._drainer, None
        if drainer is not None and not drainer.done():
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
        while self._pending:
            self._pending.popleft().future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- the drainer (one task at a time, on the event loop) -----------------------------------

    async def _drain(self) -> None:
        try:
            while self._pending:
                if self._last_size > 1 and self.max_wait_s > 0:
                    await self._linger()
                batch = self._take()
                if batch:
                    await self._dispatch(batch)
        finally:
            if self._drainer is asyncio.current_task():
                self._drainer = None

    async def _linger(self) -> None:
        """Wait until `max_size` live items are queued, or the oldest has waited `max_wait_s`."""
        loop = asyncio.get_running_loop()
        oldest = next((p for p in self._pending if not p.future.done()), None)
        if oldest is None or self._live() >= self.max_size:
            return
        delay = oldest.queued_at + self.max_wait_s - loop.time()
        if delay <= 0:
            return
        full: asyncio.Future[None] = loop.create_future()
        self._full = full
        timer = loop.call_later(delay, _settle, full)
        try:
            await full
        finally:
            timer.cancel()
            self._full = None

    def _live(self) -> int:
        return sum(1 for p in self._pending if not p.future.done())

    def _take(self) -> list[_Pending[K, T, R]]:
        """Up to `max_size` items from the head of the queue; cancelled callers are dropped."""
        batch: list[_Pending[K, T, R]] = []
        pending = self._pending
        while pending and len(batch) < self.max_size:
            entry = pending.popleft()
            if not entry.future.done():
                batch.append(entry)
        return batch

    async def _dispatch(self, batch: list[_Pending[K, T, R]]) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        loop = asyncio.get_running_loop()
        keys_items = [(entry.key, entry.item) for entry in batch]
        self._last_size = len(batch)
        if self._observe is not None:
            with contextlib.suppress(Exception):  # its callers must be answered whatever it does
                self._observe(len(batch), loop.time() - batch[0].queued_at)
        try:
            outcomes = await loop.run_in_executor(self._executor, self._compute, keys_items)
        except BaseException as exc:  # the drainer was cancelled, or the thread died
            cancelled = isinstance(exc, asyncio.CancelledError)
            for entry in batch:
                if not entry.future.done():
                    if cancelled:
                        entry.future.cancel()
                    else:
                        entry.future.set_exception(exc)
            if cancelled or not isinstance(exc, Exception):
                raise
            return  # its callers have the error; the next batch goes on
        for entry, (ok, value) in zip(batch, outcomes, strict=True):
            if entry.future.done():  # its caller was cancelled meanwhile
                continue
            if ok:
                entry.future.set_result(value)  # type: ignore[arg-type]
            else:
                assert isinstance(value, BaseException)
                entry.future.set_exception(value)

    # -- the worker thread ----------------------------------------------------------------------

    def _compute(self, keys_items: list[tuple[K, T]]) -> list[tuple[bool, R | BaseException]]:
        """One `run` per distinct key (by identity), in first-seen order; per-item outcomes."""
        groups: dict[int, tuple[K, list[int]]] = {}
        for index, (key, _) in enumerate(keys_items):
            groups.setdefault(id(key), (key, []))[1].append(index)
        outcomes: list[tuple[bool, R | BaseException]] = [(False, _UNSET)] * len(keys_items)
        for key, indexes in groups.values():
            items = [keys_items[i][1] for i in indexes]
            try:
                results = self._call(key, items)
                if len(results) != len(items):
                    raise RuntimeError(f"{len(results)} results for {len(items)} items")
            except Exception as exc:  # noqa: BLE001 - handed to the callers it concerns
                if len(items) == 1:
                    outcomes[indexes[0]] = (False, exc)
                    continue
                for i, item in zip(indexes, items, strict=True):  # whose item failed?
                    outcomes[i] = self._one(key, item)
                continue
            for i, result in zip(indexes, results, strict=True):
                outcomes[i] = (True, result)
        return outcomes

    def _call(self, key: K, items: Sequence[T]) -> Sequence[R]:
        """`run(key, items)`, contained: in this worker thread no signal arrives (Python
        delivers them to the main thread) and no task is cancelled, so a SystemExit,
        KeyboardInterrupt or CancelledError here was raised by `run` itself. Let through, it
        would end the drainer (and SystemExit or KeyboardInterrupt the event loop), or pass for
        the drainer's own cancellation."""
        return contained(self._run, key, items)

    def _one(self, key: K, item: T) -> tuple[bool, R | BaseException]:
        try:
            results = self._call(key, [item])
            if len(results) != 1:
                raise RuntimeError(f"{len(results)} results for 1 item")
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            return False, exc
        return True, results[0]


_UNSET = RuntimeError("no outcome")


class RunAbortedError(RuntimeError):
    """`run` raised a BaseException that is not an Exception (SystemExit in a model, say): an
    error for the callers whose items it was running, never a stop of the batcher. Its message
    names the type only; the original is its `__cause__`."""


def contained(call: Callable[..., V], *args: object) -> V:
    """`call(*args)`, with anything it raises that is not an Exception (a model's SystemExit,
    KeyboardInterrupt, CancelledError or its own BaseException) raised as a `RunAbortedError`.

    For code that runs a model, in a worker thread or on the event loop while a request is being
    served: there no signal raises (uvicorn handles SIGINT and SIGTERM by setting a flag), so
    such an exception is the model's doing. Let through, it would stop the event loop or be
    taken for the cancellation of the request's task."""
    try:
        return call(*args)
    except Exception:
        raise
    except BaseException as exc:  # made an error for the callers concerned
        raise RunAbortedError(
            f"the call raised {type(exc).__name__}, which is not an Exception"
        ) from exc


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
