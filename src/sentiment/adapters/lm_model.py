"""`nblr-lm`: NB-LR stacked with class-conditional n-gram language models, as an estimator.

Training (two classes only):

1. hash every review once into the n-grams ending at each token (`NgramHasher.token_ngrams`,
   2**n_features_log2 columns);
2. NB-LR as `nblr` does it: keep the columns seen in `min_df` reviews (`HashedVocabulary`), fit
   the folded NB-LR of `nb_logistic` on them;
3. fit the NB-LR and the two class language models (`class_lm`) on `inner_folds - 1` of
   `inner_folds` stratified folds, each in turn, and score the fold held out;
4. fit a logistic regression (`Stacker`) on these out-of-fold scores, and the language models
   on every review.

The fitted estimator holds plain arrays and numbers only (skops saves it; its class is in
`skops_format.TRUSTED_TYPES`) and scores through `lm_scoring.LmStackScorer`, as the numpy serving
file does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.model_selection import StratifiedKFold

from sentiment.adapters.class_lm import ClassLanguageModel, LanguageModelTables, fit_tables
from sentiment.adapters.column_index import sorted_unique
from sentiment.adapters.context_scoring import Stacker
from sentiment.adapters.hashed_vocabulary import HashedVocabulary
from sentiment.adapters.lm_scoring import N_INPUTS, LmStackScorer, nb_pairs, stacker_inputs
from sentiment.adapters.nb_logistic import NbSettings, fit_folded
from sentiment.adapters.scorer_cache import ScoredClassifier
from sentiment.adapters.text_hashing import NgramHasher
from sentiment.adapters.word_features import word_vectorizer

Array = np.ndarray[Any, Any]


class NbLanguageModelClassifier(ScoredClassifier, ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Texts in, labels out: see the module docstring."""

    def __init__(
        self,
        ngram_max: int = 3,
        n_features_log2: int = 30,
        C: float = 0.3,  # noqa: N803 (scikit-learn's name)
        nb_alpha: float = 1.0,
        beta: float = 0.25,
        min_df: int = 3,
        max_iter: int = 1000,
        lm_order: int = 3,
        lm_min_count: int = 2,
        lm_discount: float = 0.75,
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
        self.lm_order = lm_order
        self.lm_min_count = lm_min_count
        self.lm_discount = lm_discount
        self.inner_folds = inner_folds
        self.stack_C = stack_C
        self.random_state = random_state

    # -- what both paths share --------------------------------------------------------------

    def block_vectorizer(self) -> HashingVectorizer:
        """The HashingVectorizer of the NB-LR's features."""
        return word_vectorizer(int(self.ngram_max), int(self.n_features_log2))

    def hasher_vectorizer(self) -> HashingVectorizer:
        """The HashingVectorizer of the n-grams both parts read: up to max(ngram_max, lm_order)
        tokens."""
        longest = max(int(self.ngram_max), int(self.lm_order))
        return word_vectorizer(longest, int(self.n_features_log2))

    def hasher(self) -> NgramHasher:
        return NgramHasher(self.hasher_vectorizer())

    def tables(self) -> LanguageModelTables:
        return LanguageModelTables(
            columns=tuple(self.lm_columns_),
            counts=tuple(self.lm_counts_),
            histories=tuple(self.lm_histories_),
            tokens=np.asarray(self.lm_tokens_),
            vocabulary=int(self.lm_vocabulary_),
            discount=float(self.lm_discount),
        )

    def _build_scorer(self) -> LmStackScorer:
        return LmStackScorer(
            self.hasher(),
            int(self.ngram_max),
            self.columns_,
            self.coef_,
            float(self.intercept_[0]),
            self.tables(),
            self.stacker(),
        )

    # -- scikit-learn's interface -----------------------------------------------------------

    def fit(self, x: Sequence[str] | Array, y: Sequence[str] | Array) -> NbLanguageModelClassifier:
        self.forget_scorer()
        folds = int(self.inner_folds)
        texts, labels, classes = self._two_classes(x, y, "nblr-lm", folds)
        second = labels == classes[1]
        docs, grams = self.hasher().token_ngrams(texts)
        rows, columns = nb_pairs(docs, grams, int(self.ngram_max))
        matrix = sp.csr_matrix(
            (np.ones(rows.size, dtype=np.float32), (rows, columns)),
            shape=(len(texts), 2 ** int(self.n_features_log2)),
        )
        del rows, columns
        vocabulary = HashedVocabulary(min_df=int(self.min_df)).fit(matrix)
        kept = vocabulary.transform(matrix)
        split = StratifiedKFold(folds, shuffle=True, random_state=int(self.random_state))
        inner = list(split.split(np.zeros(len(texts)), labels))
        # The n-grams each inner model's texts hold at all: its NB interpolation mean is taken
        # over them, as the full model's over every n-gram seen (`NbSettings.mean_over`).
        seen = [sorted_unique(matrix[train].indices).size for train, _ in inner]
        del matrix
        coef, intercept = fit_folded(kept, labels, classes, self._settings(vocabulary.n_seen_))

        # Out-of-fold inputs: each text scored by the inner models that did not see it.
        inputs = np.zeros((len(texts), N_INPUTS), dtype=np.float64)
        for (train, held), n_seen in zip(inner, seen, strict=True):
            c, b = fit_folded(kept[train], labels[train], classes, self._settings(n_seen))
            nb = np.asarray(kept[held] @ c[0].astype(np.float64)) + float(b[0])
            tables = self._fit_tables(docs, grams, second, train)
            lm = ClassLanguageModel(tables)
            held_docs, held_grams = _tokens_of(docs, grams, held, len(texts))
            lm_scores = lm.scores(held_docs, held_grams, lm.rows(held_grams), held.size)
            inputs[held] = stacker_inputs(nb, lm_scores)
        stack = Stacker.fit(inputs, second, float(self.stack_C))
        tables = self._fit_tables(docs, grams, second, np.arange(len(texts)))

        self.classes_ = classes
        self.columns_ = np.asarray(vocabulary.columns_, dtype=np.int32)
        self.coef_ = np.ascontiguousarray(coef[0], dtype=np.float32)
        self.intercept_ = np.asarray(intercept, dtype=np.float32).reshape(1)
        self.lm_columns_ = list(tables.columns)
        self.lm_counts_ = list(tables.counts)
        self.lm_histories_ = list(tables.histories)
        self.lm_tokens_ = tables.tokens
        self.lm_vocabulary_ = tables.vocabulary
        self._keep_stacker(stack)
        return self

    def _settings(self, seen: int) -> NbSettings:
        return NbSettings(
            C=float(self.C),
            nb_alpha=float(self.nb_alpha),
            beta=float(self.beta),
            min_df=int(self.min_df),
            max_iter=int(self.max_iter),
            calibrate=False,  # the stacker calibrates
            random_state=int(self.random_state),
            mean_over=seen,
        )

    def _fit_tables(
        self, docs: Array, grams: Array, second: Array, texts: Array
    ) -> LanguageModelTables:
        own_docs, own_grams = _tokens_of(docs, grams, texts, second.size)
        return fit_tables(
            own_docs,
            own_grams,
            second[texts],
            int(self.lm_order),
            int(self.lm_min_count),
            float(self.lm_discount),
        )


def _tokens_of(docs: Array, grams: Array, texts: Array, n_texts: int) -> tuple[Array, Array]:
    """The tokens of the texts `texts` (increasing indices into `n_texts` texts), their texts
    renumbered 0..len(texts)-1, as `token_ngrams` would give them for those texts alone."""
    position = np.full(n_texts, -1, dtype=np.int64)
    position[texts] = np.arange(texts.size)
    mine = position[docs] >= 0
    return position[docs[mine]].astype(np.int32), grams[:, mine]
