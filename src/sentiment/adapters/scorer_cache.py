"""A fitted estimator's numpy scorer, built on first use and kept, but never saved.

`nblr-ctx` and `nblr-lm` score through a scorer built from their fitted arrays (an index over
their columns, tables in float). Building it takes up to a tenth of a second: an estimator that
built one per call would make every `predict` of MLflow's pyfunc (`mlflow models serve`) pay it.
The scorer is kept in the instance, dropped from its state (`__getstate__`), so skops and pickle
save the fitted arrays only, and forgotten when the estimator is fitted again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_KEY = "_scorer_cache"


class ScorerCache:
    """Mix into a scikit-learn estimator before `BaseEstimator`."""

    def cached_scorer(self, build: Callable[[], T]) -> T:
        cached = self.__dict__.get(_KEY)
        if cached is None:
            cached = build()
            self.__dict__[_KEY] = cached
        result: T = cached
        return result

    def forget_scorer(self) -> None:
        self.__dict__.pop(_KEY, None)

    def __getstate__(self) -> dict[str, Any]:
        parent: Any = super().__getstate__()  # BaseEstimator's: a copy of __dict__, and more
        state: dict[str, Any] = dict(parent)
        state.pop(_KEY, None)
        return state
