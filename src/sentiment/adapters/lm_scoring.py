"""Scoring of the `nblr-lm` model with numpy alone: NB-LR and class language models, stacked.

The model (`lm_model.NbLanguageModelClassifier`) hashes a review once into the word n-grams
ending at each of its tokens (`NgramHasher.token_ngrams`). From them:

1. NB-LR: the review's distinct n-grams of up to `ngram_max` tokens, their coefficients looked
   up in the hashed vocabulary (`column_index`), summed, plus the intercept (as `nblr`);
2. the class language models (`class_lm`): the log-likelihood ratio of the review's tokens under
   the second and the first class, summed;
3. a small logistic regression (`context_scoring.Stacker`) on these 2 numbers, standardised: a
   weighted sum of two scores that both grow with the evidence for the second class.

(A third input, the ratio per token, made the stacker weigh the summed ratio negatively: more
negative text could then raise a review's positive score, and 5-fold CV was lower, 0.9220 against
0.9244; benchmarks/README.md.)

Both the scikit-learn estimator (saved with skops) and the serving file's classifier
(`hashed_linear_classifier`, `serving.npz`) score through `LmStackScorer`, so they give the same
numbers. Texts are scored in chunks, so memory stays flat whatever the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentiment.adapters.class_lm import ClassLanguageModel, LanguageModelTables
from sentiment.adapters.column_index import ColumnIndex, sorted_unique
from sentiment.adapters.context_scoring import StackedScorer, Stacker
from sentiment.adapters.text_hashing import NgramHasher

Array = np.ndarray[Any, Any]

N_INPUTS = 2  # NB-LR score, LM log-likelihood ratio
CHUNK = 500


def nb_pairs(docs: Array, grams: Array, ngram_max: int) -> tuple[Array, Array]:
    """The distinct (text, column) pairs of the n-grams of up to `ngram_max` tokens, sorted by
    text then column: the 1s of the binary matrix `HashingVectorizer.transform` gives.
    (`grams` may also hold rows of a sorted column array, -1 for none: the same pairs.)"""
    rows = grams[:ngram_max]
    keys = (docs.astype(np.int64) << 31)[None, :] | rows
    keys = keys[rows >= 0]
    keys.sort()  # (np.unique is several times slower here)
    new = np.empty(keys.size, dtype=bool)
    new[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    keys = keys[new]
    return keys >> 31, keys & ((1 << 31) - 1)


def stacker_inputs(nb: Array, lm: Array) -> Array:
    """(n, 2): the NB-LR score and the language models' log-likelihood ratio."""
    return np.column_stack([nb, lm])


class LmStackScorer(StackedScorer):
    """Scores texts with a fitted `nblr-lm` model."""

    def __init__(
        self,
        hasher: NgramHasher,
        ngram_max: int,
        columns: Array,
        coef: Array,
        intercept: float,
        tables: LanguageModelTables,
        stacker: Stacker,
    ) -> None:
        if coef.shape != columns.shape or columns.ndim != 1:
            raise ValueError(f"{coef.shape} coefficients for {columns.shape} columns")
        if stacker.size != N_INPUTS:
            raise ValueError(f"nblr-lm's stacker takes {N_INPUTS} inputs, got {stacker.size}")
        if not 1 <= ngram_max <= hasher.ngram_max or tables.order > hasher.ngram_max:
            raise ValueError("the hasher must give n-grams as long as the model reads")
        super().__init__(stacker)
        self._hasher = hasher
        self._ngram_max = ngram_max
        # One index over every column either part knows: a token's n-grams are looked up once
        # for both. Per row: the NB-LR coefficient (0: not kept) and the row in each order's
        # language-model table (-1: not there). A last row for the columns found nowhere.
        known = sorted_unique(np.concatenate([columns, *tables.columns])).astype(np.int32)
        self._index = ColumnIndex(known, hasher.n_features)
        self._coef = np.zeros(known.size + 1, dtype=np.float32)
        self._coef[np.searchsorted(known, columns)] = np.asarray(coef, dtype=np.float32)
        self._lm_rows = np.full((tables.order, known.size + 1), -1, dtype=np.int32)
        for n, lm_columns in enumerate(tables.columns):
            self._lm_rows[n, np.searchsorted(known, lm_columns)] = np.arange(lm_columns.size)
        self._intercept = float(intercept)
        self._lm = ClassLanguageModel(tables)

    def inputs(self, texts: list[str]) -> Array:
        """(n, 2) stacker inputs of the texts, before standardising."""
        result = np.empty((len(texts), N_INPUTS), dtype=np.float64)
        longest = max(self._ngram_max, self._lm.order)
        for begin in range(0, len(texts), CHUNK):
            chunk = texts[begin : begin + CHUNK]
            docs, grams = self._hasher.token_ngrams(chunk)
            grams = grams[:longest]
            known = self._index.rows(grams.reshape(-1)).reshape(grams.shape)  # -1: the last row
            rows, found = nb_pairs(docs, known, self._ngram_max)
            nb: Array = np.bincount(rows, weights=self._coef[found], minlength=len(chunk))
            nb = nb + self._intercept
            lm_rows = [self._lm_rows[n, known[n]] for n in range(self._lm.order)]
            lm = self._lm.scores(docs, grams, lm_rows, len(chunk))
            result[begin : begin + len(chunk)] = stacker_inputs(nb, lm)
        return result
