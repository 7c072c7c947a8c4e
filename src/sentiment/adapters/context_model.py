"""`nblr-ctx`: NB-LR with negation marking and sentence aggregates, as a scikit-learn estimator.

Training (two classes only):

1. hash every review into two blocks of binary word n-grams, plain and negation-marked
   (`negation.NegationMarking`), and fit the folded NB-LR of `nb_logistic` on them;
2. fit the same NB-LR on `inner_folds - 1` of `inner_folds` stratified folds, each in turn, and
   score the fold held out: the review and each of its sentences (`context_scoring`);
3. fit a logistic regression on the 8 standardised aggregates of these out-of-fold scores.

The fitted estimator holds plain arrays and numbers only (skops saves it; its class is in
`skops_format.TRUSTED_TYPES`) and scores through `context_scoring.ContextScorer`, as the numpy
serving file does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.model_selection import StratifiedKFold

from sentiment.adapters.context_scoring import ContextScorer, Stacker, features
from sentiment.adapters.nb_logistic import NbSettings, fit_folded
from sentiment.adapters.negation import NEGATORS, NegationMarking
from sentiment.adapters.scorer_cache import ScoredClassifier
from sentiment.adapters.text_hashing import NgramHasher
from sentiment.adapters.word_features import word_vectorizer

Array = np.ndarray[Any, Any]


class NegationContextClassifier(ScoredClassifier, ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Texts in, labels out: see the module docstring."""

    def __init__(
        self,
        ngram_max: int = 3,
        n_features_log2: int = 21,
        C: float = 0.3,  # noqa: N803 (scikit-learn's name)
        nb_alpha: float = 1.0,
        beta: float = 0.25,
        min_df: int = 3,
        max_iter: int = 1000,
        negation_window: int = 3,
        inner_folds: int = 3,
        stack_C: float = 1.0,  # noqa: N803
        random_state: int = 0,
    ) -> None:
        self.ngram_max = ngram_max
        self.n_features_log2 = n_features_log2
        self.C = C
        self.nb_alpha = nb_alpha
        self.beta = beta
        self.min_df = min_df
        self.max_iter = max_iter
        self.negation_window = negation_window
        self.inner_folds = inner_folds
        self.stack_C = stack_C
        self.random_state = random_state

    # -- what both paths share --------------------------------------------------------------

    def block_vectorizer(self) -> HashingVectorizer:
        """The HashingVectorizer of one block (the plain n-grams)."""
        return word_vectorizer(int(self.ngram_max), int(self.n_features_log2))

    def negation(self) -> NegationMarking:
        return NegationMarking(window=int(self.negation_window), negators=NEGATORS)

    def hasher(self) -> NgramHasher:
        return NgramHasher(self.block_vectorizer(), negation=self.negation())

    def _build_scorer(self) -> ContextScorer:
        return ContextScorer(self.hasher(), self.coef_, float(self.intercept_[0]), self.stacker())

    # -- scikit-learn's interface -----------------------------------------------------------

    def fit(self, x: Sequence[str] | Array, y: Sequence[str] | Array) -> NegationContextClassifier:
        self.forget_scorer()
        texts, labels, classes = self._two_classes(x, y, "nblr-ctx", int(self.inner_folds))
        settings = NbSettings(
            C=float(self.C),
            nb_alpha=float(self.nb_alpha),
            beta=float(self.beta),
            min_df=int(self.min_df),
            max_iter=int(self.max_iter),
            calibrate=False,  # the stacker calibrates
            random_state=int(self.random_state),
        )
        hasher = self.hasher()
        matrix = hasher.transform(texts)
        coef, intercept = fit_folded(matrix, labels, classes, settings)
        # Out-of-fold scores: each text scored by the inner model that did not see it.
        folds = StratifiedKFold(
            int(self.inner_folds), shuffle=True, random_state=int(self.random_state)
        )
        model_of = np.zeros(len(texts), dtype=np.int64)
        inner_coef = np.zeros((matrix.shape[1], int(self.inner_folds)), dtype=np.float32)
        inner_intercept = np.zeros(int(self.inner_folds), dtype=np.float64)
        for k, (kept, held) in enumerate(folds.split(np.zeros(len(texts)), labels)):
            c, b = fit_folded(matrix[kept], labels[kept], classes, settings)
            inner_coef[:, k] = c[0]
            inner_intercept[k] = b[0]
            model_of[held] = k
        del matrix
        aggregated = features(hasher, texts, inner_coef, inner_intercept, model_of)
        del inner_coef
        stack = Stacker.fit(aggregated, labels == classes[1], float(self.stack_C))
        self.classes_ = classes
        self.coef_ = np.ascontiguousarray(coef[0], dtype=np.float32)
        self.intercept_ = np.asarray(intercept, dtype=np.float32).reshape(1)
        self._keep_stacker(stack)
        return self
