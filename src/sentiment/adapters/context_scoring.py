"""Scoring of the `nblr-ctx` model with numpy alone: review and sentence scores, combined.

The model is a folded NB-LR (see `nb_logistic`) over two blocks of hashed binary word n-grams:
the plain ones and the negation-marked ones (`negation.NegationMarking`). It scores the whole
review and each of its sentences; a small logistic regression (the *stacker*) turns 8 aggregates
of these scores into the review's score:

    review score, mean / max / min / first / last sentence score,
    share of sentences scored positive, log of the number of sentences

standardised by the training set's mean and standard deviation. Both the scikit-learn estimator
(`context_model.NegationContextClassifier`, saved with skops) and the serving file's classifier
(`hashed_linear_classifier`, `serving.npz`) score through `ContextScorer`, so they give the same
numbers. Texts are scored in chunks, so memory stays flat whatever the batch.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment.adapters.text_hashing import NgramHasher

Array = np.ndarray[Any, Any]

# A sentence ends at "<br />" or at white space after ".", "!" or "?".
_SENTENCE_END = re.compile(r"<br\s*/?>|(?<=[.!?])\s+")
_WORD = re.compile(r"\w")
AGGREGATES = ("review", "mean", "max", "min", "first", "last", "positive_share", "log_sentences")
N_AGGREGATES = len(AGGREGATES)
CHUNK = 500  # reviews scored together (with all their sentences)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the sentences of a text that hold a word character; the whole text when
    none does."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if _WORD.search(text, start, match.start()):
            spans.append((start, match.start()))
        start = match.end()
    if _WORD.search(text, start):
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


def split_sentences(text: str) -> list[str]:
    """The sentences of a text that hold a word character; the whole text when none does."""
    return [text[start:end] for start, end in sentence_spans(text)]


@dataclass(frozen=True)
class Stacker:
    """`((features - mean) / scale) @ coef + intercept`: the score of a review, from k inputs
    (`nblr-ctx`: its 8 aggregates; `nblr-lm`: NB-LR and language-model scores)."""

    mean: Array  # (k,) float64
    scale: Array  # (k,) float64, no zeros
    coef: Array  # (k,) float64
    intercept: float

    def __post_init__(self) -> None:
        size = np.asarray(self.coef).size
        for name in ("mean", "scale", "coef"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (size,) or size == 0 or not np.isfinite(value).all():
                raise ValueError(f"stacker {name} must be {max(size, 1)} finite numbers")
            object.__setattr__(self, name, value)
        if not math.isfinite(self.intercept) or not (self.scale > 0).all():
            raise ValueError("stacker scale must be positive and its intercept finite")

    @property
    def size(self) -> int:
        """How many inputs it combines."""
        return int(self.coef.size)

    def decision(self, features: Array) -> Array:
        """One score per row, summed column by column: the same number for a text whether it
        is scored alone or in a batch (a matrix product's order depends on the batch)."""
        if features.shape[1:] != (self.size,):
            raise ValueError(f"the stacker takes {self.size} inputs, got {features.shape[1:]}")
        standardized: Array = (features - self.mean) / self.scale
        result = np.full(features.shape[0], self.intercept, dtype=np.float64)
        for k in range(self.size):
            result += standardized[:, k] * self.coef[k]
        return result

    @classmethod
    def fit(cls, inputs: Array, positive: Array, c: float) -> Stacker:
        """A logistic regression (scikit-learn's, L2, `C=c`) on the standardised inputs."""
        from sklearn.linear_model import LogisticRegression

        mean = inputs.mean(axis=0)
        scale = inputs.std(axis=0)
        scale[scale == 0.0] = 1.0
        model = LogisticRegression(C=c, max_iter=1000).fit((inputs - mean) / scale, positive)
        return cls(mean, scale, np.asarray(model.coef_[0]), float(model.intercept_[0]))

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": float(self.intercept),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stacker:
        """Values written by `to_json`. Raises ValueError when they are malformed."""
        if not isinstance(data, dict) or set(data) != {"mean", "scale", "coef", "intercept"}:
            raise ValueError("stacker must have exactly the keys coef, intercept, mean, scale")
        try:
            return cls(
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                coef=np.asarray(data["coef"], dtype=np.float64),
                intercept=float(data["intercept"]),
            )
        except TypeError as exc:
            raise ValueError(f"malformed stacker: {exc}") from exc


def aggregates(review: Array, sentence: Array, counts: Array) -> Array:
    """The 8 aggregates (see the module docstring), one row per review.

    `review`: (n,) scores; `sentence`: the scores of every review's sentences in order;
    `counts`: (n,) sentences per review, each at least 1.
    """
    first = np.zeros(counts.size, dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    last = first + counts - 1
    positive = (sentence > 0).astype(np.float64)
    return np.column_stack(
        [
            review,
            np.add.reduceat(sentence, first) / counts,
            np.maximum.reduceat(sentence, first),
            np.minimum.reduceat(sentence, first),
            sentence[first],
            sentence[last],
            np.add.reduceat(positive, first) / counts,
            np.log(counts),
        ]
    )


def linear_scores(
    hasher: NgramHasher, texts: Sequence[str], coef: Array, intercept: Array
) -> Array:
    """`x @ coef + intercept` in float64 for the binary hashed features x of the texts:
    (n, k) for coef (n_columns, k)."""
    _, indices, indptr = hasher.arrays(texts)
    return _scores(indices, indptr, coef, intercept)


def _scores(indices: Array, indptr: Array, coef: Array, intercept: Array) -> Array:
    """`x @ coef + intercept` in float64 for the binary CSR matrix x of (indices, indptr)."""
    n = indptr.size - 1
    return _pair_scores(np.repeat(np.arange(n), np.diff(indptr)), indices, n, coef, intercept)


def _pair_scores(rows: Array, columns: Array, n: int, coef: Array, intercept: Array) -> Array:
    """`x @ coef + intercept` in float64 for the (n, len(coef)) binary matrix x whose 1s are
    at (rows, columns): each row summed in column order, as `_scores` sums a CSR row."""
    picked = coef.take(columns, axis=0)
    scores = np.empty((n, coef.shape[1]), dtype=np.float64)
    for k in range(coef.shape[1]):
        scores[:, k] = np.bincount(rows, weights=picked[:, k], minlength=n)
    scores += intercept
    return scores


def features(
    hasher: NgramHasher,
    texts: Sequence[str],
    coef: Array,
    intercept: Array,
    model_of: Array | None = None,
) -> Array:
    """The (n, 8) aggregates of the texts, scored in chunks.

    `coef` (n_columns, k) and `intercept` (k,) hold k models; `model_of[i]` says which scores
    text i (training: the inner fold that held it out); None: the first.
    """
    result = np.empty((len(texts), N_AGGREGATES), dtype=np.float64)
    for begin in range(0, len(texts), CHUNK):
        chunk = list(texts[begin : begin + CHUNK])
        spans = [sentence_spans(text) for text in chunk]
        counts = np.fromiter((len(s) for s in spans), np.int64, len(chunk))
        review_scores, sentence_scores = _review_and_sentence_scores(
            hasher, chunk, spans, coef, intercept
        )
        which = (
            np.zeros(len(chunk), dtype=np.int64)
            if model_of is None
            else np.asarray(model_of[begin : begin + len(chunk)], dtype=np.int64)
        )
        review = review_scores[np.arange(len(chunk)), which]
        sentence = sentence_scores[np.arange(int(counts.sum())), np.repeat(which, counts)]
        result[begin : begin + len(chunk)] = aggregates(review, sentence, counts)
    return result


def _review_and_sentence_scores(
    hasher: NgramHasher,
    texts: list[str],
    spans: list[list[tuple[int, int]]],
    coef: Array,
    intercept: Array,
) -> tuple[Array, Array]:
    """The scores of the texts and of their sentences (the spans, in order).

    The texts are hashed once: a sentence's n-grams are those of its review that lie wholly
    inside it (`NgramHasher.arrays_with_spans`). That is exact for these spans: a sentence ends
    at "<br />" or at white space, never inside a token; every negation scope ends between two
    sentences ("<" of "<br />" and "." are scope ends, "!" and "?" mark tokens that end it); and
    lowercasing a sentence alone gives the same characters as lowercasing its review (the final
    sigma looks past case-ignorable characters only, and none lies at a sentence edge). A
    hasher whose scopes could cross (`exact_spans` False) hashes every sentence again instead.
    """
    if hasher.exact_spans and hasher.binary_unnormalized:
        (rows, columns), (span_rows, span_columns) = hasher.pairs_with_spans(texts, spans)
        n_spans = sum(len(s) for s in spans)
        return (
            _pair_scores(rows, columns, len(texts), coef, intercept),
            _pair_scores(span_rows, span_columns, n_spans, coef, intercept),
        )
    if hasher.exact_spans:
        (_, indices, indptr), (_, span_indices, span_indptr) = hasher.arrays_with_spans(
            texts, spans
        )
        return (
            _scores(indices, indptr, coef, intercept),
            _scores(span_indices, span_indptr, coef, intercept),
        )
    sentences = [text[start:end] for text, s in zip(texts, spans, strict=True) for start, end in s]
    scores = linear_scores(hasher, texts + sentences, coef, intercept)
    return scores[: len(texts)], scores[len(texts) :]


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


class StackedScorer:
    """Texts -> a few numbers per text -> the stacker's score. Subclasses give `inputs`."""

    def __init__(self, stacker: Stacker) -> None:
        self._stacker = stacker
        # At most one batch per core at a time: a batch of 100 reviews needs 11-16 MB of
        # temporaries, and a server's thread pool (40 threads) would otherwise hold one such
        # peak per thread. Much of the scoring runs in numpy without the GIL: two threads
        # scored `nblr-lm` batches of 100 1.47x as fast as one (benchmarks/README.md).
        self._slots = threading.BoundedSemaphore(available_cores())

    @property
    def stacker(self) -> Stacker:
        """What combines the inputs into the score."""
        return self._stacker

    def inputs(self, texts: list[str]) -> Array:
        """(n, stacker.size) inputs of the stacker, before standardising."""
        raise NotImplementedError

    def decision_function(self, texts: Sequence[str]) -> Array:
        """The score of each text (positive: the second class), float64."""
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be str")
        with self._slots:
            inputs = self.inputs(list(texts))
        return self._stacker.decision(inputs)

    def predict_proba(self, texts: Sequence[str]) -> Array:
        """(n, 2) probabilities of the two classes, float64."""
        scores = self.decision_function(texts)
        positive = 1.0 / (1.0 + np.exp(-np.clip(scores, -700.0, 700.0)))
        return np.column_stack([1.0 - positive, positive])


class ContextScorer(StackedScorer):
    """Scores texts with a fitted `nblr-ctx` model: base coefficients plus stacker."""

    def __init__(self, hasher: NgramHasher, coef: Array, intercept: float, stacker: Stacker):
        if coef.shape != (hasher.n_columns,):
            raise ValueError(f"{coef.shape[0]} coefficients for {hasher.n_columns} columns")
        if stacker.size != N_AGGREGATES:
            raise ValueError(f"nblr-ctx's stacker takes {N_AGGREGATES} aggregates")
        super().__init__(stacker)
        self._hasher = hasher
        self._coef = np.ascontiguousarray(coef, dtype=np.float32).reshape(-1, 1)
        self._intercept = np.array([intercept], dtype=np.float64)

    def inputs(self, texts: list[str]) -> Array:
        """(n, 8) aggregates of the texts (see the module docstring)."""
        return features(self._hasher, texts, self._coef, self._intercept)
