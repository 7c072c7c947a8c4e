"""The word n-gram features every model type hashes: one definition for all of them.

Words, plus "!" and "?" as tokens of their own (they carry sentiment); the "br" of IMDB's "<br />"
dropped, so it forms no n-grams; lowercased; n-grams of 1..`longest` tokens hashed into
2**n_features_log2 columns, float32, not normalised. `text_hashing.NgramHasher` computes the very
matrix `HashingVectorizer.transform` does for these settings.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

from sentiment.adapters.byte_tokens import WORDS_AND_MARKS

TOKEN_PATTERN = WORDS_AND_MARKS
STOP_WORDS = ("br",)


def word_vectorizer(longest: int, n_features_log2: int, binary: bool = True) -> HashingVectorizer:
    """Word 1..`longest`-grams hashed into 2**n_features_log2 columns (binary: 0/1 values)."""
    return HashingVectorizer(
        token_pattern=TOKEN_PATTERN,
        stop_words=list(STOP_WORDS),
        ngram_range=(1, int(longest)),
        n_features=2 ** int(n_features_log2),
        alternate_sign=False,
        binary=binary,
        norm=None,
        dtype=np.float32,
    )
