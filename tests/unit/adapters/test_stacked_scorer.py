"""A stacked scorer (`nblr-ctx`, `nblr-lm`) scores batches side by side, one per core at most."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from sentiment.adapters.context_scoring import StackedScorer, Stacker, available_cores

Array = np.ndarray[Any, Any]


class SlowScorer(StackedScorer):
    """Its inputs take a while, and it counts how many batches are being scored at once."""

    def __init__(self) -> None:
        stacker = Stacker(mean=np.zeros(1), scale=np.ones(1), coef=np.ones(1), intercept=0.0)
        super().__init__(stacker)
        self._guard = threading.Lock()
        self.running = 0
        self.most = 0

    def inputs(self, texts: list[str]) -> Array:
        with self._guard:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            if "boom" in texts:
                raise ValueError("boom")
        finally:
            with self._guard:
                self.running -= 1
        return np.array([[float(len(t))] for t in texts])


def test_at_most_one_batch_per_core_is_scored_at_once() -> None:
    scorer = SlowScorer()
    cores = available_cores()
    with ThreadPoolExecutor(max_workers=cores + 4) as pool:
        scores = list(pool.map(scorer.decision_function, [["ab", "c"]] * (3 * cores + 4)))
    assert scorer.most == cores
    for got in scores:
        np.testing.assert_array_equal(got, [2.0, 1.0])


def test_a_failed_batch_gives_its_slot_back() -> None:
    scorer = SlowScorer()
    for _ in range(available_cores() + 1):
        with pytest.raises(ValueError, match="boom"):
            scorer.decision_function(["ok", "boom"])
    with ThreadPoolExecutor(max_workers=1) as pool:  # a leaked slot would block for ever
        assert pool.submit(scorer.decision_function, ["abc"]).result(timeout=10).tolist() == [3.0]
