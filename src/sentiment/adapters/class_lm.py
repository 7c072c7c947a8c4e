"""Class-conditional n-gram language models, scored as one log-likelihood ratio per text.

One language model per class of two, over the hashed word n-grams `NgramHasher.token_ngrams`
gives (the very n-grams `nblr` counts, so one hashing pass serves both). Interpolated absolute
discounting (Ney et al. 1994; D = `discount`), for a token w after the history h of n-1 tokens:

    p1(w)     = (c(w) + 1) / (N + V)                                   add-one unigrams
    pn(w | h) = max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * p(n-1)(w | h')
                when h is a kept history, else p(n-1)(w | h')

c = counts in the class's training texts, N = its tokens, V = distinct training unigrams + 1,
c(h) = the summed counts of the n-grams that continue h, N1+(h .) = how many distinct ones, h' = h
without its first token. With `min_count` m > 1, n-grams (n >= 2) seen fewer than m times in a
class are dropped from it (c(h w) = 0), and so are histories with c(h) < m: their tokens fall back
to the shorter history. The first tokens of a text have shorter histories (no padding).

A text's score is sum over its tokens of log p_second(w | h) - log p_first(w | h): a generative,
word-order-aware view of the text that the discriminative bag of n-grams lacks (Mesnil et al.
2014). On IMDB, stacked with NB-LR's score it adds about half a point (benchmarks/README.md).

Storage: for each order n, the sorted hashed columns of the n-grams the scoring needs and, per
column, four float32 numbers: the interpolation's first term for each class (for unigrams, p1)
and, for an n-gram as the history of order n + 1, its back-off weight D * N1+(h .) / c(h) for each
class (1.0 when not a kept history). A token then costs one lookup per order: the history of
order n + 1 at token t is the n-gram of order n at token t - 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment.adapters.column_index import searched_rows

Array = np.ndarray[Any, Any]

N_VALUES = 4  # first term for class 0 and 1, back-off weight for class 0 and 1


@dataclass(frozen=True)
class LanguageModelTables:
    """The fitted model as plain arrays: `columns[n - 1]` (sorted int32) and `values[n - 1]`
    ((len, 4) float32) for each order n, and `unseen` (2,): p1 of a word never seen."""

    columns: tuple[Array, ...]
    values: tuple[Array, ...]
    unseen: Array

    def __post_init__(self) -> None:
        if not self.columns or len(self.columns) != len(self.values):
            raise ValueError("one column array and one value array per order, at least one")
        for columns, values in zip(self.columns, self.values, strict=True):
            if columns.dtype != np.int32 or columns.ndim != 1:
                raise ValueError("language model columns must be 1-D int32")
            if values.dtype != np.float32 or values.shape != (columns.size, N_VALUES):
                raise ValueError(f"language model values must be ({columns.size}, 4) float32")
            if columns.size and (int(columns[0]) < 0 or not bool(np.all(np.diff(columns) > 0))):
                raise ValueError("language model columns must be non-negative and increasing")
            if not bool(np.isfinite(values).all()) or bool((values < 0).any()):
                raise ValueError("language model values must be finite and non-negative")
        unseen = np.asarray(self.unseen, dtype=np.float64)
        if unseen.shape != (2,) or not bool(np.all((unseen > 0) & (unseen <= 1))):
            raise ValueError("unseen-word probabilities must be two numbers in (0, 1]")
        object.__setattr__(self, "unseen", unseen)

    @property
    def order(self) -> int:
        return len(self.columns)

    @property
    def n_entries(self) -> int:
        return sum(c.size for c in self.columns)


def fit_tables(
    docs: Array, grams: Array, second: Array, order: int, min_count: int, discount: float
) -> LanguageModelTables:
    """The two classes' models from training tokens: `docs` and `grams` as
    `NgramHasher.token_ngrams` gives them (grams of at least `order` rows), `second[d]` True
    when text d is of the second class."""
    if grams.shape[0] < order or order < 1:
        raise ValueError(f"order {order} needs n-grams up to {order}, got {grams.shape[0]}")
    if not 0.0 < discount < 1.0:
        raise ValueError(f"discount must be in (0, 1), got {discount}")
    token_class = np.asarray(second, dtype=bool)[docs]
    unigrams, inverse = np.unique(grams[0], return_inverse=True)
    counts = _class_counts(inverse.reshape(-1), token_class, unigrams.size)
    tokens = counts.sum(axis=0)  # per class
    vocabulary = unigrams.size + 1
    unseen = 1.0 / (tokens + vocabulary)
    first_terms = [(counts + 1.0) * unseen]  # p1 of every unigram
    keys = [unigrams.astype(np.int64)]
    backoffs: list[tuple[Array, Array]] = []  # per order n >= 2: (history keys, weights)
    for n in range(2, order + 1):
        at = np.flatnonzero(grams[n - 1] >= 0)
        ngrams, where, inverse = np.unique(grams[n - 1][at], return_index=True, return_inverse=True)
        counts = _class_counts(inverse.reshape(-1), token_class[at], ngrams.size)
        # A history is the (n-1)-gram ending one token earlier (the same for every occurrence
        # of an n-gram, but for hash collisions: its first occurrence's).
        histories, of_gram = np.unique(grams[n - 2][at[where] - 1], return_inverse=True)
        of_gram = of_gram.reshape(-1)
        history_counts = np.stack(
            [np.bincount(of_gram, counts[:, k], histories.size) for k in range(2)], axis=1
        )
        followers = np.stack(
            [np.bincount(of_gram, counts[:, k] > 0, histories.size) for k in range(2)], axis=1
        )
        kept_history = history_counts >= max(min_count, 1)
        safe = np.maximum(history_counts, 1.0)
        weights = np.where(kept_history, discount * followers / safe, 1.0)
        terms = np.maximum(counts - discount, 0.0) / safe[of_gram]
        kept = (counts >= max(min_count, 1)) & kept_history[of_gram]
        terms = np.where(kept, terms, 0.0)
        useful = kept.any(axis=1)
        keys.append(ngrams[useful].astype(np.int64))
        first_terms.append(terms[useful])
        useful_history = kept_history.any(axis=1)
        backoffs.append((histories[useful_history].astype(np.int64), weights[useful_history]))
    columns: list[Array] = []
    values: list[Array] = []
    for n in range(1, order + 1):
        own, terms = keys[n - 1], first_terms[n - 1]
        history_keys, weights = backoffs[n - 1] if n < order else (own[:0], terms[:0])
        merged = np.union1d(own, history_keys)
        table = np.zeros((merged.size, N_VALUES), dtype=np.float64)
        table[:, 2:] = 1.0
        table[np.searchsorted(merged, own), :2] = terms
        table[np.searchsorted(merged, history_keys), 2:] = weights
        columns.append(merged.astype(np.int32))
        values.append(table.astype(np.float32))
    return LanguageModelTables(tuple(columns), tuple(values), unseen)


def _class_counts(inverse: Array, second: Array, size: int) -> Array:
    """(size, 2) float64: how often each key occurs in texts of the first and second class."""
    return np.stack(
        [
            np.bincount(inverse[~second], minlength=size),
            np.bincount(inverse[second], minlength=size),
        ],
        axis=1,
    ).astype(np.float64)


class ClassLanguageModel:
    """Scores tokens with fitted `LanguageModelTables`: log p_second - log p_first."""

    def __init__(self, tables: LanguageModelTables) -> None:
        self._tables = tables
        # A sentinel row last, for n-grams not in a table (row -1): first term 0, back-off 1,
        # and for unigrams the unseen word's probability.
        self._values: list[Array] = []
        for n, values in enumerate(tables.values, 1):
            sentinel = np.array([[0.0, 0.0, 1.0, 1.0]], dtype=np.float64)
            if n == 1:
                sentinel[0, :2] = tables.unseen
            self._values.append(np.vstack([values.astype(np.float64), sentinel]))

    @property
    def tables(self) -> LanguageModelTables:
        return self._tables

    @property
    def order(self) -> int:
        return self._tables.order

    def rows(self, grams: Array) -> list[Array]:
        """The table row of every token's n-gram of each order (-1: not in the table), by
        binary search (a scorer that looks up many texts keeps a `ColumnIndex` instead)."""
        return [searched_rows(self._tables.columns[n], grams[n]) for n in range(self.order)]

    def token_log_ratios(self, grams: Array, rows: Sequence[Array]) -> Array:
        """log p_second(w | h) - log p_first(w | h) of every token (float64). `grams`: the
        n-gram columns ending at each token (`NgramHasher.token_ngrams`, at least `order` rows);
        `rows[n - 1]`: the row of each in the order-n table, -1 where it is not there."""
        if grams.shape[0] < self.order or len(rows) < self.order:
            raise ValueError(f"an order-{self.order} model needs n-grams up to {self.order}")
        n_tokens = grams.shape[1]
        p = self._values[0][rows[0], :2]
        for n in range(2, self.order + 1):
            # The history of the order-n n-gram at token t: the order-(n-1) one at t - 1.
            history = np.full(n_tokens, -1, dtype=np.int64)
            history[1:] = rows[n - 2][:-1]
            history[grams[n - 1] < 0] = -1  # no n-gram here (text start): p stays as it is
            p *= self._values[n - 2][history, 2:]
            p += self._values[n - 1][rows[n - 1], :2]
        ratios: Array = np.log(p[:, 1]) - np.log(p[:, 0])
        return ratios

    def scores(self, docs: Array, grams: Array, rows: Sequence[Array], n_texts: int) -> Array:
        """(n_texts,): each text's log-likelihood ratio, summed over its tokens (0 for a text
        without tokens)."""
        ratios = self.token_log_ratios(grams, rows)
        return np.bincount(docs, weights=ratios, minlength=n_texts)
