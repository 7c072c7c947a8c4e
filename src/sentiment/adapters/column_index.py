"""ColumnIndex: where each hashed column sits in a sorted array of kept columns, with numpy alone.

A hashed vocabulary (`hashed_vocabulary`) keeps ~500,000 of 2**30 hashed columns. Finding a
review's columns in it with `np.searchsorted` costs ~20 random probes per n-gram (0.1 ms per
review). Hashed columns are uniform, so their top bits make a radix index instead: bucket
`column >> shift` holds the kept columns `columns[start[b]:start[b + 1]]`, with about half a
column per bucket, and a lookup checks the few candidates of its bucket, round by round.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


class ColumnIndex:
    """Positions of columns in a strictly increasing array `columns` of values in
    [0, min(n_features, 2**31))."""

    def __init__(self, columns: Array, n_features: int) -> None:
        wide = np.asarray(columns, dtype=np.int64)
        if wide.size and (
            int(wide[0]) < 0
            or int(wide[-1]) >= min(n_features, 2**31)
            or not bool(np.all(np.diff(wide) > 0))
        ):
            raise ValueError("columns must be strictly increasing and in [0, n_features)")
        value_bits = max(int(n_features - 1).bit_length(), 1)
        bucket_bits = min(max(int(2 * wide.size).bit_length(), 1), value_bits)
        self._shift = value_bits - bucket_bits
        bounds = np.arange((1 << bucket_bits) + 1, dtype=np.int64) << self._shift
        # int32 halves the memory a lookup touches (columns < 2**31, positions < 2**31).
        self._start = np.searchsorted(wide, bounds).astype(np.int32)
        self._columns = np.ascontiguousarray(wide, dtype=np.int32)
        self._limit = int(self._start.size - 1) << self._shift

    def rows(self, needles: Array) -> Array:
        """The position of each needle in `columns`, or -1 where it is absent (int64)."""
        needles = np.asarray(needles)
        result = np.full(needles.size, -1, dtype=np.int64)
        if self._columns.size == 0 or needles.size == 0:
            return result
        if needles.size and (int(needles.min()) < 0 or int(needles.max()) >= self._limit):
            inside = (needles >= 0) & (needles < self._limit)
            rows = np.full(needles.size, -1, dtype=np.int64)
            rows[inside] = self.rows(needles[inside])
            return rows
        needles = needles.astype(np.int32, copy=False)
        bucket = needles >> self._shift
        # (`take` gathers faster than fancy indexing, and the needles still looked for travel
        # with their candidates instead of being gathered again each round.)
        low, high = self._start.take(bucket), self._start.take(bucket + 1)
        active = np.flatnonzero(high > low)
        candidate, end, wanted = low.take(active), high.take(active), needles.take(active)
        while active.size:
            hit = self._columns.take(candidate) == wanted
            result[active[hit]] = candidate[hit]
            candidate += 1
            more = ~hit & (candidate < end)
            active, candidate, end, wanted = active[more], candidate[more], end[more], wanted[more]
        return result


def searched_rows(columns: Array, needles: Array) -> Array:
    """`ColumnIndex(columns, ...).rows(needles)` by binary search, without building an index
    (for one-off calls: building the index takes a few tens of milliseconds)."""
    if columns.size == 0:
        return np.full(needles.size, -1, dtype=np.int64)
    position = np.searchsorted(columns, needles)
    np.minimum(position, columns.size - 1, out=position)
    return np.where(columns[position] == needles, position, -1).astype(np.int64)


def kept_entries(rows: Array, data: Array, indptr: Array) -> tuple[Array, Array, Array]:
    """The CSR arrays (data, indices, indptr) of the entries whose `rows` (their column's
    position in the kept columns, -1: dropped) are kept, renumbered by that position; each row
    of the matrix keeps its order."""
    kept = rows >= 0
    row_of = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    new_indptr = np.zeros(indptr.size, dtype=np.int64)
    np.cumsum(np.bincount(row_of[kept], minlength=indptr.size - 1), out=new_indptr[1:])
    return data[kept], rows[kept].astype(np.int32), new_indptr


def sorted_unique(values: Array) -> Array:
    """`np.unique(values)` by sorting (numpy's hash-based unique is several times slower on
    large int arrays)."""
    result = np.sort(np.asarray(values).reshape(-1))
    if result.size:
        new = np.empty(result.size, dtype=bool)
        new[0] = True
        np.not_equal(result[1:], result[:-1], out=new[1:])
        result = result[new]
    return result
