"""ColumnIndex: a radix index over sorted hashed columns gives the binary search's answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment.adapters.column_index import ColumnIndex, kept_entries, searched_rows, sorted_unique


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2**31),
    st.lists(st.integers(0, 2**31 - 1), max_size=300, unique=True),
    st.lists(st.integers(-5, 2**31 + 5), max_size=300),
)
def test_rows_equal_a_binary_search(n_features: int, kept: list[int], needles: list[int]) -> None:
    columns = np.array(sorted(c for c in kept if c < n_features), dtype=np.int64)
    # Needles: arbitrary values (some outside the space) and every kept column.
    asked = np.array([*needles, *columns.tolist()], dtype=np.int64)
    got = ColumnIndex(columns, n_features).rows(asked)
    expected = [columns.tolist().index(v) if v in set(columns.tolist()) else -1 for v in asked]
    assert got.tolist() == expected
    assert searched_rows(columns, asked).tolist() == expected


def test_columns_must_be_increasing_and_inside_the_space() -> None:
    for bad in ([3, 3], [5, 1], [-1, 2], [2**20]):
        with pytest.raises(ValueError, match="increasing"):
            ColumnIndex(np.array(bad), 2**20)


def test_kept_entries_renumber_and_keep_row_order() -> None:
    data = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    rows = np.array([-1, 0, 5, -1])  # positions of each entry's column, -1: dropped
    indptr = np.array([0, 2, 2, 4])  # three rows, the middle one empty
    kept_data, indices, new_indptr = kept_entries(rows, data, indptr)
    assert kept_data.tolist() == [2.0, 3.0]
    assert indices.tolist() == [0, 5]
    assert new_indptr.tolist() == [0, 1, 1, 2]


def test_kept_entries_of_trailing_rows_that_keep_nothing() -> None:
    # The last two rows keep no entry (one of them has none): they still get their row.
    data = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    rows = np.array([4, -1, -1])
    indptr = np.array([0, 1, 3, 3])
    kept_data, indices, new_indptr = kept_entries(rows, data, indptr)
    assert kept_data.tolist() == [1.0]
    assert indices.tolist() == [4]
    assert new_indptr.tolist() == [0, 1, 1, 1]
    nothing = kept_entries(np.array([-1, -1]), data[:2], np.array([0, 2]))
    assert [a.tolist() for a in nothing] == [[], [], [0, 0]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-5, 5) | st.integers(-(2**40), 2**40), max_size=60),
    st.sampled_from([1, 2, 3]),
)
def test_sorted_unique_equals_numpys_unique(values: list[int], rows: int) -> None:
    # Any shape: the values of a matrix's rows, flattened, as np.unique gives them.
    shaped = np.array(values[: len(values) // rows * rows], dtype=np.int64).reshape(rows, -1)
    got = sorted_unique(shaped)
    assert got.dtype == np.int64
    assert got.tolist() == np.unique(shaped).tolist()


@pytest.mark.parametrize("n_features", [2**20, 2**20 + 1])
def test_needles_at_the_edge_of_the_space(n_features: int) -> None:
    # The last column of the space and the values past it (hypothesis rarely draws them):
    # 2**20 + 1 columns need a 21st bit for the column 2**20.
    index = ColumnIndex(np.array([0, 5, n_features - 1]), n_features)
    for asked, expected in (
        ([n_features - 1, 0, 4], [2, 0, -1]),
        ([n_features - 1, n_features], [2, -1]),
        ([n_features + 1, 5], [-1, 1]),
    ):
        assert index.rows(np.array(asked)).tolist() == expected
