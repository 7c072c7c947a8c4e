"""word_vectorizer: the word n-grams every model type hashes, column by column."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from sklearn.utils import murmurhash3_32

from sentiment.adapters.text_hashing import hasher_for
from sentiment.adapters.word_features import word_vectorizer


def column(ngram: str, n_features: int) -> int:
    """The column HashingVectorizer gives one n-gram string."""
    return abs(int(murmurhash3_32(ngram, seed=0))) % n_features


def test_lowercased_words_and_marks_without_br_in_ngrams_up_to_the_longest() -> None:
    v = word_vectorizer(2, 18)
    x = sp.csr_matrix(v.transform(["Not <br /> GOOD!! Not"]))
    x.sort_indices()
    tokens = ["not", "good", "!", "!", "not"]
    bigrams = [" ".join(pair) for pair in itertools.pairwise(tokens)]
    expected = sorted({column(g, 2**18) for g in tokens + bigrams})
    assert x.shape == (1, 2**18)
    assert x.dtype == np.float32
    assert x.indices.tolist() == expected
    assert x.data.tolist() == [1.0] * len(expected)  # binary, not normalised, never negative
    assert hasher_for(v) is not None  # the fast hasher (and the lean serving path) applies


def test_counts_without_binary() -> None:
    x = sp.csr_matrix(word_vectorizer(1, 10, binary=False).transform(["good good film"]))
    x.sort_indices()
    counts = {column("good", 2**10): 2.0, column("film", 2**10): 1.0}
    assert dict(zip(x.indices.tolist(), x.data.tolist(), strict=True)) == counts
