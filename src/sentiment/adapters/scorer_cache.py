"""The scikit-learn side of the stacked model types (`nblr-ctx`, `nblr-lm`): predictions through
a numpy scorer that is built on first use and kept, but never saved.

Their estimators score through a `context_scoring.StackedScorer` built from their fitted arrays
(an index over their columns, tables in float). Building it takes up to a tenth of a second: an
estimator that built one per call would make every `predict` of MLflow's pyfunc (`mlflow models
serve`) pay it. The scorer is kept in the instance, dropped from its state (`__getstate__`), so
skops and pickle save the fitted arrays only, and forgotten when the estimator is fitted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sentiment.adapters.context_scoring import StackedScorer, Stacker

Array = np.ndarray[Any, Any]

_KEY = "_scorer_cache"


class ScoredClassifier:
    """Mix into a scikit-learn classifier before `BaseEstimator`; give `_build_scorer`, and set
    `classes_` (two) and the stacker's `stack_mean_`, `stack_scale_`, `stack_coef_` and
    `stack_intercept_` when fitting."""

    def _two_classes(
        self, x: Sequence[str] | Array, y: Sequence[str] | Array, name: str, folds: int
    ) -> tuple[list[str], Array, Array]:
        """(texts, labels, the two classes sorted) of the training data; ValueError unless there
        are exactly two classes with at least `folds` texts each (one per inner fold)."""
        texts = [str(t) for t in x]
        labels = np.asarray([str(label) for label in y], dtype=str)
        classes = np.array(sorted(set(labels.tolist())), dtype=str)
        if classes.size != 2:
            raise ValueError(f"{name} needs exactly two classes, got {classes.size}")
        if min(int((labels == c).sum()) for c in classes) < folds:
            raise ValueError(f"{name} needs at least inner_folds={folds} texts of each class")
        return texts, labels, classes

    def _keep_stacker(self, stacker: Stacker) -> None:
        """Store a fitted stacker as the attributes `stacker()` reads."""
        self.__dict__.update(
            stack_mean_=stacker.mean,
            stack_scale_=stacker.scale,
            stack_coef_=stacker.coef,
            stack_intercept_=stacker.intercept,
        )

    def stacker(self) -> Stacker:
        """The fitted stacker."""
        fitted = self.__dict__
        return Stacker(
            mean=fitted["stack_mean_"],
            scale=fitted["stack_scale_"],
            coef=fitted["stack_coef_"],
            intercept=float(fitted["stack_intercept_"]),
        )

    def _build_scorer(self) -> StackedScorer:
        raise NotImplementedError

    def scorer(self) -> StackedScorer:
        """The fitted model's scorer, built once."""
        cached = self.__dict__.get(_KEY)
        if cached is None:
            cached = self._build_scorer()
            self.__dict__[_KEY] = cached
        result: StackedScorer = cached
        return result

    def forget_scorer(self) -> None:
        """Call before fitting: the next `scorer()` is built from the new arrays."""
        self.__dict__.pop(_KEY, None)

    def __getstate__(self) -> dict[str, Any]:
        parent: Any = super().__getstate__()  # BaseEstimator's: a copy of __dict__, and more
        state: dict[str, Any] = dict(parent)
        state.pop(_KEY, None)
        return state

    def decision_function(self, x: Sequence[str] | Array) -> Array:
        return self.scorer().decision_function([str(t) for t in x])

    def predict_proba(self, x: Sequence[str] | Array) -> Array:
        return self.scorer().predict_proba([str(t) for t in x])

    def predict(self, x: Sequence[str] | Array) -> Array:
        classes: Array = self.__dict__["classes_"]
        result: Array = classes[(self.decision_function(x) > 0).astype(np.int64)]
        return result
