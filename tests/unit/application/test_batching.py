"""MicroBatcher: grouping, bounds, per-request errors, cancellation, ordering, keys (models)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import pytest

from sentiment.application.batching import MicroBatcher

X = TypeVar("X")
LIVENESS_S = 30.0  # only a guard against a hang; never a speed assertion


class Recorder:
    """`run` for the batcher: records each call's key and items; can be held in the thread."""

    def __init__(self, fail_on: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.threads: set[str] = set()

    def __call__(self, key: str, items: Sequence[str]) -> list[str]:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        assert self.gate.wait(LIVENESS_S)
        self.calls.append((key, list(items)))
        bad = [item for item in items if item in self.fail_on]
        if bad:
            raise ValueError(f"cannot handle {bad[0]}")
        return [f"{key}:{item.upper()}" for item in items]


class Observed:
    """`observe` for the batcher: each batch's size and its oldest item's wait, in order."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, float]] = []

    def __call__(self, size: int, waited_s: float) -> None:
        self.batches.append((size, waited_s))

    @property
    def sizes(self) -> list[int]:
        return [size for size, _ in self.batches]


def run(coroutine: Coroutine[Any, Any, X]) -> X:
    """Run a scenario to its end (a hang fails after LIVENESS_S instead of blocking)."""

    async def guarded() -> X:
        return await asyncio.wait_for(coroutine, LIVENESS_S)

    return asyncio.run(guarded())


async def held_first_batch(
    batcher: MicroBatcher[str, str, str], recorder: Recorder, key: str = "k"
) -> asyncio.Task[str]:
    """Submit one item and hold its batch in the worker thread, so that the next ones queue."""
    recorder.gate.clear()
    recorder.entered.clear()
    first = asyncio.create_task(batcher.submit(key, "first"))
    while not recorder.entered.is_set():
        await asyncio.sleep(0.001)
    return first


async def first_held_then_ten(
    batcher: MicroBatcher[str, str, str], recorder: Recorder
) -> list[str]:
    """One item held in the worker thread, ten more queued behind it, then all released: every
    caller's result, in submission order."""
    first = await held_first_batch(batcher, recorder)
    rest = [asyncio.create_task(batcher.submit("k", f"t{i}")) for i in range(10)]
    await asyncio.sleep(0.01)  # all ten are queued behind the held batch
    recorder.gate.set()
    results = [await first, *[await task for task in rest]]
    await batcher.close()
    return results


def test_concurrent_items_are_grouped_and_every_caller_gets_its_own_result_in_order() -> None:
    recorder, observed = Recorder(), Observed()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(
        recorder, max_size=64, max_wait_s=0, observe=observed
    )

    results = run(first_held_then_ten(batcher, recorder))
    assert results == ["k:FIRST", *[f"k:T{i}" for i in range(10)]]
    # One call for the first item, then one for all ten, in the order they came.
    assert recorder.calls == [("k", ["first"]), ("k", [f"t{i}" for i in range(10)])]
    assert observed.sizes == [1, 10]
    # The ten waited behind the held batch for at least the scenario's 10 ms sleep (a lower
    # bound only: how much longer depends on the machine).
    first_wait, ten_wait = (waited for _, waited in observed.batches)
    assert 0 <= first_wait < ten_wait
    assert ten_wait >= 0.005
    # Off the event loop: in the batcher's own thread.
    assert all(name.startswith("sentiment-batch") for name in recorder.threads)


def test_batches_never_exceed_the_maximum_size() -> None:
    recorder = Recorder()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=4, max_wait_s=0)

    results = run(first_held_then_ten(batcher, recorder))
    assert results[1:] == [f"k:T{i}" for i in range(10)]
    sizes = [len(items) for _, items in recorder.calls]
    assert sizes == [1, 4, 4, 2]
    assert [item for _, items in recorder.calls for item in items] == [
        "first",
        *[f"t{i}" for i in range(10)],
    ]


def test_a_lone_request_never_waits_for_company() -> None:
    # An hour of allowed waiting: a lone request that waited for it would hang the test.
    batcher: MicroBatcher[str, str, str] = MicroBatcher(Recorder(), max_size=8, max_wait_s=3600)

    async def scenario() -> list[str]:
        results = [await batcher.submit("k", "a"), await batcher.submit("k", "b")]
        await batcher.close()
        return results

    assert run(scenario()) == ["k:A", "k:B"]


async def a_batch_of_two(batcher: MicroBatcher[str, str, str], recorder: Recorder) -> None:
    """One item held in the worker thread, two queued behind it, then released: the two go
    together, so the batcher has seen concurrency."""
    first = await held_first_batch(batcher, recorder)
    pair = [asyncio.create_task(batcher.submit("k", x)) for x in ("p", "q")]
    await asyncio.sleep(0.01)
    recorder.gate.set()
    await first
    await asyncio.gather(*pair)


def test_under_concurrency_a_full_batch_goes_at_once_without_waiting_out_the_maximum() -> None:
    recorder = Recorder()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=3, max_wait_s=3600)

    async def scenario() -> list[str]:
        # Two items in one batch: the batcher now knows there is concurrency and lingers.
        await a_batch_of_two(batcher, recorder)
        # Three more fill a batch: it goes though the hour is far from over.
        trio = await asyncio.gather(*(batcher.submit("k", x) for x in ("x", "y", "z")))
        await batcher.close()
        return list(trio)

    assert run(scenario()) == ["k:X", "k:Y", "k:Z"]
    assert recorder.calls[-1] == ("k", ["x", "y", "z"])


def test_under_concurrency_a_partial_batch_goes_after_the_maximum_wait() -> None:
    recorder = Recorder()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=50, max_wait_s=0.005)

    async def scenario() -> str:
        await a_batch_of_two(batcher, recorder)
        alone = await batcher.submit("k", "late")  # lingers at most 5 ms, then goes alone
        await batcher.close()
        return alone

    assert run(scenario()) == "k:LATE"
    assert recorder.calls[-1] == ("k", ["late"])


def test_an_error_reaches_only_the_request_whose_item_caused_it() -> None:
    recorder = Recorder(fail_on=frozenset({"bad"}))
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=16, max_wait_s=0)

    async def scenario() -> list[object]:
        first = await held_first_batch(batcher, recorder)
        rest = [asyncio.create_task(batcher.submit("k", x)) for x in ("a", "bad", "c")]
        await asyncio.sleep(0.01)
        recorder.gate.set()
        outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
        # Raised to its caller, not handed back as a result.
        with pytest.raises(ValueError, match="cannot handle bad"):
            await rest[1]
        await batcher.close()
        return list(outcomes)

    first, a, bad, c = run(scenario())
    assert (first, a, c) == ("k:FIRST", "k:A", "k:C")
    assert isinstance(bad, ValueError)
    assert "bad" in str(bad)
    # The batch failed as a whole, then each item was tried alone.
    assert ("k", ["a", "bad", "c"]) in recorder.calls
    assert ("k", ["a"]) in recorder.calls


def test_a_cancelled_caller_is_dropped_and_the_others_still_get_their_results() -> None:
    recorder = Recorder()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=16, max_wait_s=0)

    async def scenario() -> tuple[list[str], bool]:
        first = await held_first_batch(batcher, recorder)
        tasks = [asyncio.create_task(batcher.submit("k", x)) for x in ("a", "gone", "c")]
        await asyncio.sleep(0.01)
        tasks[1].cancel()  # gives up while queued
        recorder.gate.set()
        results = [await first, await tasks[0], await tasks[2]]
        cancelled = tasks[1].cancelled()
        # A caller cancelled while its batch runs does not disturb the rest either.
        await held_first_batch(batcher, recorder)
        running = [asyncio.create_task(batcher.submit("k", x)) for x in ("d", "e")]
        await asyncio.sleep(0.01)
        recorder.gate.set()
        while len(recorder.calls) < 4:  # the batch of d and e is in the worker
            await asyncio.sleep(0.001)
        running[0].cancel()
        results.append(await running[1])
        await batcher.close()
        return results, cancelled

    results, cancelled = run(scenario())
    assert results == ["k:FIRST", "k:A", "k:C", "k:E"]
    assert cancelled
    assert ("k", ["a", "c"]) in recorder.calls  # the cancelled item never reached the model


def test_items_for_different_keys_are_run_with_their_own_key() -> None:
    recorder = Recorder()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=16, max_wait_s=0)

    async def scenario() -> list[str]:
        first = await held_first_batch(batcher, recorder, key="v1")
        mixed = [
            asyncio.create_task(batcher.submit(key, item))
            for key, item in (("v1", "a"), ("v2", "b"), ("v1", "c"), ("v2", "d"))
        ]
        await asyncio.sleep(0.01)
        recorder.gate.set()
        results = [await first, *[await task for task in mixed]]
        await batcher.close()
        return results

    assert run(scenario()) == ["v1:FIRST", "v1:A", "v2:B", "v1:C", "v2:D"]
    assert recorder.calls[1:] == [("v1", ["a", "c"]), ("v2", ["b", "d"])]


def test_close_cancels_the_waiting_callers_and_the_batcher_can_start_again() -> None:
    recorder = Recorder()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=16, max_wait_s=0)

    async def scenario() -> tuple[bool, str]:
        first = await held_first_batch(batcher, recorder)
        queued = asyncio.create_task(batcher.submit("k", "queued"))
        await asyncio.sleep(0.01)
        await batcher.close()
        recorder.gate.set()
        await asyncio.sleep(0)
        cancelled = first.cancelled() and queued.cancelled()
        return cancelled, await batcher.submit("k", "again")

    assert run(scenario()) == (True, "k:AGAIN")


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="max_size"):
        MicroBatcher(Recorder(), max_size=0, max_wait_s=0)
    with pytest.raises(ValueError, match="max_wait_s"):
        MicroBatcher(Recorder(), max_size=2, max_wait_s=-1)


class Abort(BaseException):
    """Not an Exception: what a model's own BaseException subclass would be."""


@pytest.mark.parametrize(
    "raised",
    [SystemExit("secret detail"), KeyboardInterrupt(), asyncio.CancelledError(), Abort("x")],
    ids=["SystemExit", "KeyboardInterrupt", "CancelledError", "BaseException"],
)
def test_a_run_that_raises_a_base_exception_fails_its_callers_and_the_batcher_goes_on(
    raised: BaseException,
) -> None:
    def model(key: str, items: Sequence[str]) -> list[str]:
        if "exit" in items:
            raise raised
        return [f"{key}:{item.upper()}" for item in items]

    recorder = Recorder()
    calls: list[list[str]] = []

    def run_fn(key: str, items: Sequence[str]) -> list[str]:
        calls.append(list(items))
        recorder(key, [])  # holds the batch in the thread while the gate is closed
        return model(key, items)

    batcher: MicroBatcher[str, str, str] = MicroBatcher(run_fn, max_size=16, max_wait_s=0)

    async def scenario() -> tuple[object, list[object], str]:
        alone = await asyncio.gather(batcher.submit("k", "exit"), return_exceptions=True)
        first = await held_first_batch(batcher, recorder)
        rest = [asyncio.create_task(batcher.submit("k", x)) for x in ("a", "exit", "c")]
        await asyncio.sleep(0.01)
        recorder.gate.set()
        grouped = await asyncio.gather(first, *rest, return_exceptions=True)
        later = await batcher.submit("k", "later")
        await batcher.close()
        return alone[0], list(grouped), later

    alone, grouped, later = run(scenario())
    assert later == "k:LATER"
    assert [grouped[0], grouped[1], grouped[3]] == ["k:FIRST", "k:A", "k:C"]
    for error in (alone, grouped[2]):
        assert isinstance(error, Exception)  # an error for its caller, not a cancellation
        assert not isinstance(error, asyncio.CancelledError)
        assert type(raised).__name__ in str(error)
        assert "secret detail" not in str(error)  # the type, not the model's own text
        assert error.__cause__ is raised
    assert ["a", "exit", "c"] in calls  # the batch, then each item alone
    assert ["a"] in calls


def test_a_lone_item_that_fails_raises_to_its_caller_after_one_call() -> None:
    recorder = Recorder(fail_on=frozenset({"bad"}))
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=8, max_wait_s=0)

    async def scenario() -> None:
        with pytest.raises(ValueError, match="cannot handle bad"):
            await batcher.submit("k", "bad")
        await batcher.close()

    run(scenario())
    assert recorder.calls == [("k", ["bad"])]  # alone already: not tried a second time


def test_a_failing_key_never_keeps_the_other_keys_from_their_results() -> None:
    recorder = Recorder(fail_on=frozenset({"bad"}))
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=16, max_wait_s=0)
    submitted = (("v1", "bad"), ("v2", "b"), ("v3", "x"), ("v3", "bad"), ("v4", "c"))

    async def scenario() -> list[object]:
        first = await held_first_batch(batcher, recorder, key="v0")
        tasks = [asyncio.create_task(batcher.submit(key, item)) for key, item in submitted]
        await asyncio.sleep(0.01)
        recorder.gate.set()
        await first
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.close()
        return list(outcomes)

    bad1, b, x, bad3, c = run(scenario())
    assert (b, x, c) == ("v2:B", "v3:X", "v4:C")
    assert isinstance(bad1, ValueError)
    assert isinstance(bad3, ValueError)


def test_a_maximum_size_of_one_sends_every_item_alone() -> None:
    recorder, observed = Recorder(), Observed()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(
        recorder, max_size=1, max_wait_s=0, observe=observed
    )

    results = run(first_held_then_ten(batcher, recorder))
    assert results[1:] == [f"k:T{i}" for i in range(10)]
    assert [len(items) for _, items in recorder.calls] == [1] * 11
    assert observed.sizes == [1] * 11


@pytest.mark.parametrize("max_wait_s", [0.5, 3600.0])
def test_under_concurrency_items_arriving_while_the_batcher_lingers_go_together(
    max_wait_s: float,
) -> None:
    recorder = Recorder()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(recorder, max_size=3, max_wait_s=max_wait_s)

    async def scenario() -> list[str]:
        await a_batch_of_two(batcher, recorder)
        a = asyncio.create_task(batcher.submit("k", "a"))
        await asyncio.sleep(0.05)  # the batcher lingers with one item
        recorder.gate.clear()
        recorder.entered.clear()
        rest = [asyncio.create_task(batcher.submit("k", x)) for x in ("b", "c")]
        # The batch is full: it goes at once, the hour (or half second) notwithstanding.
        while not recorder.entered.is_set():
            await asyncio.sleep(0.001)
        # A full batch more while that one is in the worker: queued as usual, then sent.
        later = [asyncio.create_task(batcher.submit("k", x)) for x in ("d", "e", "f")]
        await asyncio.sleep(0.01)
        recorder.gate.set()
        results = await asyncio.wait_for(asyncio.gather(a, *rest, *later), 5.0)
        await batcher.close()
        return list(results)

    assert run(scenario()) == ["k:A", "k:B", "k:C", "k:D", "k:E", "k:F"]
    assert recorder.calls[-2:] == [("k", ["a", "b", "c"]), ("k", ["d", "e", "f"])]


def test_a_caller_cancelled_while_its_batch_runs_leaves_the_later_items_their_results() -> None:
    recorder = Recorder()
    second_call = threading.Event()
    release = threading.Event()

    def held_second_call(key: str, items: Sequence[str]) -> list[str]:
        if recorder.calls:  # the second call waits in the worker until released
            second_call.set()
            assert release.wait(LIVENESS_S)
        return recorder(key, items)

    batcher: MicroBatcher[str, str, str] = MicroBatcher(held_second_call, max_size=16, max_wait_s=0)

    async def scenario() -> list[str]:
        first = await held_first_batch(batcher, recorder)
        tasks = [asyncio.create_task(batcher.submit("k", x)) for x in ("d", "e", "f")]
        await asyncio.sleep(0.01)
        recorder.gate.set()
        await first
        while not second_call.is_set():
            await asyncio.sleep(0.001)
        tasks[0].cancel()  # its item is in the worker already
        await asyncio.sleep(0)
        release.set()
        results = [await tasks[1], await tasks[2]]
        await batcher.close()
        return results

    assert run(scenario()) == ["k:E", "k:F"]
    assert recorder.calls[-1] == ("k", ["d", "e", "f"])


def test_close_releases_the_worker_thread_and_is_harmless_on_an_unused_batcher() -> None:
    name = "batch-close-test"

    async def scenario() -> None:
        await MicroBatcher(Recorder(), max_size=4, max_wait_s=0).close()  # nothing to release
        batcher: MicroBatcher[str, str, str] = MicroBatcher(
            Recorder(), max_size=4, max_wait_s=0, thread_name=name
        )
        assert await batcher.submit("k", "a") == "k:A"
        assert any(t.name.startswith(name) for t in threading.enumerate())
        await batcher.close()
        for _ in range(2000):  # the thread ends soon after; only a guard against a hang
            if not any(t.name.startswith(name) for t in threading.enumerate()):
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the worker thread outlived close()")

    run(scenario())


def test_a_run_that_answers_the_wrong_number_of_items_fails_their_callers() -> None:
    batcher: MicroBatcher[str, str, str] = MicroBatcher(
        lambda key, items: [], max_size=4, max_wait_s=0
    )

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="0 results for 1 items"):
            await batcher.submit("k", "a")
        await batcher.close()

    run(scenario())


def test_an_observer_that_raises_stalls_no_batch() -> None:
    def observe(size: int, waited_s: float) -> None:
        raise RuntimeError("a broken metric")

    recorder = Recorder()
    batcher: MicroBatcher[str, str, str] = MicroBatcher(
        recorder, max_size=4, max_wait_s=0, observe=observe
    )

    results = run(first_held_then_ten(batcher, recorder))
    assert results == ["k:FIRST", *[f"k:T{i}" for i in range(10)]]
    assert [len(items) for _, items in recorder.calls] == [1, 4, 4, 2]
