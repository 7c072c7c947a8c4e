"""Movie-grouped folds of the IMDB train half, and the reference model that reads them.

Why: the official IMDB test half shares no movie with the train half. Shuffled folds of
`train.csv` leave most of a held-out review's movie-mates (other reviews of the same movie) in
the training part, so a model that learns titles and names scores higher on them than it will on
the official test, and a lever that helps only through them looks like a gain. Folds that keep
each movie on one side measure what the official test measures.

How, without movie ids: aclImdb numbers reviews movie by movie, and `train.csv` is sorted by label
then id, so the reviews of one movie and one label are adjacent rows. The positive and negative
files list their movies in the same order: the first negative rows (about 3,900) follow the
positive rows' movies, found through rare proper nouns that a negative and a positive review
share and fitted with an isotonic curve; the remaining negative rows are movies with no positive
review. Each row gets a position in that common order, and a fold is a contiguous range of it.
Not a general tool: on data in another order `movie_folds` returns None.

`NbReference` is the naive-Bayes LR on word 1-2grams whose official-test accuracy
`../shared/notes/measured-here.md` gives (91.55%): its accuracy on the same movie folds turns a
model type's into an estimate of the official figure (see `model_quality.py`).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

_NAME = re.compile(r"\b[A-Z][a-z]{3,}\b")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# Names in 2-15 reviews: a cast or a title, not a common word at a sentence's start.
_RARE = (2, 15)
# A negative and a positive review sharing 3 such names are taken as the same movie's.
_MATCH = 3
# Head lengths tried for the negative rows that follow the positive rows' movies.
_HEADS = range(2000, 6001, 125)
_CLOSE = 500  # rows: a matched pair this close to the fitted curve agrees with it

REFERENCE_OFFICIAL = 0.9155  # NbReference on the official test half (measured-here.md)


def rare_names(texts: Sequence[str]) -> list[set[str]]:
    """Each text's capitalised words that only 2-15 of the texts contain."""
    names = [set(_NAME.findall(text)) for text in texts]
    counts = Counter(name for found in names for name in found)
    low, high = _RARE
    return [{n for n in found if low <= counts[n] <= high} for found in names]


def movie_folds(texts: Sequence[str], labels: Sequence[str], k: int) -> np.ndarray | None:
    """A fold number (0..k-1) per row, keeping each movie's reviews in one fold; None unless the
    rows are IMDB's in `train.csv`'s order (every negative row, then every positive row, with
    enough shared names to align the two)."""
    y = np.asarray(labels)
    n_neg = int((y == "negative").sum())
    n_pos = len(y) - n_neg
    in_order = (y[:n_neg] == "negative").all() and (y[n_neg:] == "positive").all()
    if not in_order or n_neg <= max(_HEADS) or n_pos == 0 or k < 2:
        return None
    pairs = _matched_pairs(rare_names(texts), n_neg)
    if len(pairs) < 100:
        return None
    head, curve = _aligned_head(pairs)
    position = np.empty(len(y))
    position[n_neg:] = np.arange(n_pos) / n_pos
    position[:head] = curve.predict(np.arange(head)) / n_pos
    tail = n_neg - head
    position[head:n_neg] = np.arange(tail) / tail  # movies with negative reviews only
    return np.minimum((position * k).astype(int), k - 1)


def _matched_pairs(names: list[set[str]], n_neg: int) -> np.ndarray:
    """(negative row, positive row - n_neg) for each negative review whose best positive match
    shares `_MATCH` rare names or more."""
    where: defaultdict[str, list[int]] = defaultdict(list)
    for row in range(n_neg, len(names)):
        for name in names[row]:
            where[name].append(row - n_neg)
    pairs = []
    for row in range(n_neg):
        shared = Counter(other for name in names[row] for other in where[name])
        if shared:
            # The most shared names, the earliest positive row among ties: set iteration (the
            # order `Counter` breaks ties by) follows the string hash seed, which varies per run.
            other, count = max(shared.items(), key=lambda item: (item[1], -item[0]))
            if count >= _MATCH:
                pairs.append((row, other))
    return np.asarray(pairs, dtype=float).reshape(-1, 2)


def _aligned_head(pairs: np.ndarray) -> tuple[int, IsotonicRegression]:
    """The number of leading negative rows that follow the positive rows' movie order (the one
    whose monotone fit agrees with the most matched pairs), and that fit."""
    best: tuple[int, int] | None = None
    for head in _HEADS:
        inside = pairs[pairs[:, 0] < head]
        curve = IsotonicRegression(out_of_bounds="clip").fit(inside[:, 0], inside[:, 1])
        close = np.abs(curve.predict(inside[:, 0]) - inside[:, 1]) < _CLOSE
        score = int(close.sum() - (~close).sum())
        if best is None or score > best[0]:
            best = (score, head)
    assert best is not None
    inside = pairs[pairs[:, 0] < best[1]]
    return best[1], IsotonicRegression(out_of_bounds="clip").fit(inside[:, 0], inside[:, 1])


class NbReference:
    """Naive-Bayes-weighted logistic regression on binary word 1-2grams, as measured-here.md
    describes the model that scored 91.55% on the official test half: a full vocabulary, tokens
    `(?u)\\b\\w+\\b|[!?]` with `<br />` removed, log-count ratios with alpha 1, liblinear C=1
    without intercept, weights interpolated with beta 0.25."""

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> NbReference:
        self._vectorizer = CountVectorizer(
            ngram_range=(1, 2),
            token_pattern=r"(?u)\b\w+\b|[!?]",
            binary=True,
            preprocessor=lambda text: _BREAK.sub(" ", text).lower(),
        )
        x = self._vectorizer.fit_transform(texts).tocsr()
        y = np.asarray(labels) == "positive"
        p = np.asarray(x[y].sum(axis=0)).ravel() + 1.0
        q = np.asarray(x[~y].sum(axis=0)).ravel() + 1.0
        self._ratio = np.log((p / p.sum()) / (q / q.sum()))
        model = LogisticRegression(
            C=1.0, solver="liblinear", fit_intercept=False, max_iter=1000, random_state=0
        )
        model.fit(self._weighted(x), y)
        w = model.coef_.ravel()
        self._weights = 0.75 * np.abs(w).mean() + 0.25 * w
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        scores = self._weighted(self._vectorizer.transform(texts).tocsr()) @ self._weights
        return ["positive" if s > 0 else "negative" for s in scores]

    def _weighted(self, x: sp.csr_matrix) -> sp.csr_matrix:
        x = x.astype(np.float64)
        x.data *= self._ratio[x.indices]
        return x
