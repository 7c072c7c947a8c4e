"""HashedVocabulary: the hashed columns seen in min_df training rows, renumbered in order."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment.adapters.hashed_vocabulary import HashedVocabulary


def csr(rows: list[list[int]], n_columns: int = 2**30) -> sp.csr_matrix:
    """A binary CSR matrix with a 1 at each listed (sorted, distinct) column of each row."""
    indptr = np.cumsum([0, *(len(r) for r in rows)])
    indices = np.array([c for r in rows for c in r], dtype=np.int32)
    data = np.ones(indices.size, dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_columns))


def test_it_keeps_the_columns_seen_in_min_df_rows_in_order() -> None:
    train = csr([[3, 70, 2**29], [3, 70], [3, 5]])
    vocabulary = HashedVocabulary(min_df=2).fit(train)
    assert vocabulary.columns_.tolist() == [3, 70]
    out = vocabulary.transform(csr([[1, 3, 70, 999], [], [70], [2**29]]))
    assert out.shape == (4, 2)
    assert out.toarray().tolist() == [[1, 1], [0, 0], [0, 1], [0, 0]]
    assert HashedVocabulary().fit(train).columns_.tolist() == [3, 5, 70, 2**29]


def test_an_empty_vocabulary_gives_empty_rows() -> None:
    vocabulary = HashedVocabulary(min_df=5).fit(csr([[1], [2]]))
    assert vocabulary.columns_.size == 0
    assert vocabulary.transform(csr([[1, 2], []])).shape == (2, 0)


def test_another_hashing_space_is_refused() -> None:
    vocabulary = HashedVocabulary().fit(csr([[1]]))
    with pytest.raises(ValueError, match="columns"):
        vocabulary.transform(csr([[1]], n_columns=2**20))


def test_a_column_twice_in_one_row_counts_once_and_the_input_is_left_alone() -> None:
    # Not canonical: row 0 lists column 7 twice, out of order.
    indices = np.array([9, 7, 7, 9], dtype=np.int32)
    x = sp.csr_matrix((np.ones(4, np.float32), indices, np.array([0, 3, 4])), shape=(2, 64))
    assert not x.has_canonical_format
    vocabulary = HashedVocabulary(min_df=2).fit(x)
    assert vocabulary.columns_.tolist() == [9]
    assert vocabulary.n_seen_ == 2
    assert x.indices.tolist() == [9, 7, 7, 9]
    assert x.indptr.tolist() == [0, 3, 4]


rows_strategy = st.lists(
    st.lists(st.integers(0, 63), unique=True).map(sorted), min_size=1, max_size=12
)


@settings(max_examples=200, deadline=None)
@given(rows_strategy, rows_strategy, st.integers(1, 3))
def test_transform_is_the_dense_selection_of_the_kept_columns(
    train: list[list[int]], test: list[list[int]], min_df: int
) -> None:
    vocabulary = HashedVocabulary(min_df=min_df).fit(csr(train, 64))
    counts = csr(train, 64).toarray().sum(axis=0)
    expected = np.flatnonzero(counts >= min_df)
    assert vocabulary.columns_.tolist() == expected.tolist()
    out = vocabulary.transform(csr(test, 64))
    assert out.toarray().tolist() == csr(test, 64).toarray()[:, expected].tolist()
    assert out.has_sorted_indices
