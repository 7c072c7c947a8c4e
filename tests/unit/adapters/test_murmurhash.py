"""murmurhash hashes many byte slices at once exactly as scikit-learn's murmurhash3_32 hashes
each one (the columns of every served n-gram depend on it)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils import murmurhash3_32

from sentiment.adapters import murmurhash


def expected(data: bytes, starts: np.ndarray, ends: np.ndarray) -> list[int]:
    return [murmurhash3_32(data[s:e], seed=0) for s, e in zip(starts, ends, strict=True)]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=120))
def test_murmurhash_matches_scikit_learn(data: bytes) -> None:
    # Every slice of the buffer, hashed at once, against scikit-learn's murmurhash3_32.
    buffer = np.frombuffer(data + bytes(4), dtype=np.uint8)
    starts = np.array([i for i in range(len(data) + 1) for _ in range(2)], dtype=np.int32)
    ends = np.array(
        [e for i in range(len(data) + 1) for e in (len(data), (i + len(data)) // 2)],
        dtype=np.int32,
    )
    got = murmurhash.murmurhash3_32(buffer, starts, ends - starts)
    assert got.tolist() == expected(data, starts, ends)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(min_size=240, max_size=700))
def test_long_slices_hashed_one_by_one_match_scikit_learn(data: bytes) -> None:
    # Slices over LONG_BLOCKS blocks are hashed apart from the others: mix long and short.
    assert len(data) > 4 * murmurhash.LONG_BLOCKS - 20
    buffer = np.frombuffer(data + bytes(4), dtype=np.uint8)
    cuts = [(0, len(data)), (1, len(data) - 2), (3, 40), (5, 5), (0, 4 * 65 + 3), (2, 4 * 64 + 2)]
    starts = np.array([s for s, _ in cuts], dtype=np.int32)
    ends = np.array([min(e, len(data)) for _, e in cuts], dtype=np.int32)
    got = murmurhash.murmurhash3_32(buffer, starts, ends - starts)
    assert got.tolist() == expected(data, starts, ends)
    assert murmurhash.murmurhash3_32_one(data) == murmurhash3_32(data, seed=0)


def test_no_slice_gives_no_hash() -> None:
    got = murmurhash.murmurhash3_32(
        np.zeros(4, np.uint8), np.zeros(0, np.int32), np.zeros(0, np.int32)
    )
    assert got.dtype == np.int32
    assert got.size == 0


def test_slices_of_more_than_65535_blocks_match_scikit_learn() -> None:
    # Beyond 16 bits of block count the slices are ordered by another sort key.
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, size=4 * 0x10000 + 9, dtype=np.uint8).tobytes()
    buffer = np.frombuffer(data + bytes(4), dtype=np.uint8)
    cuts = [
        (3, 11),
        (0, len(data)),
        (1, 4 * 0xFFFF + 1),
        (7, 7),
        (2, 4 * 70 + 3),
        (5, 4 * 0xFFFF + 6),
    ]
    starts = np.array([s for s, _ in cuts], dtype=np.int32)
    ends = np.array([e for _, e in cuts], dtype=np.int32)
    got = murmurhash.murmurhash3_32(buffer, starts, ends - starts)
    assert got.tolist() == expected(data, starts, ends)


def test_a_batch_of_long_slices_only_matches_scikit_learn() -> None:
    # No slice short enough to be hashed side by side: all of them are hashed one by one.
    data = bytes(range(256)) * 3
    buffer = np.frombuffer(data + bytes(4), dtype=np.uint8)
    starts = np.array([0, 5], dtype=np.int32)
    ends = np.array([len(data), 4 * (murmurhash.LONG_BLOCKS + 6) + 7], dtype=np.int32)
    got = murmurhash.murmurhash3_32(buffer, starts, ends - starts)
    assert got.tolist() == expected(data, starts, ends)


def test_short_slices_beside_one_of_more_than_65535_blocks_match_scikit_learn() -> None:
    # The longest first under the wide sort key too, whatever the short slices' number.
    data = np.random.default_rng(11).integers(0, 256, size=4 * 0x10000 + 5, dtype=np.uint8)
    buffer = np.concatenate([data, np.zeros(4, np.uint8)])
    cuts = [(1, 2), (0, data.size), (3, 3), (4, 9), (5, 17), (6, 30), (2, 4 * 70 + 1)]
    starts = np.array([s for s, _ in cuts], dtype=np.int32)
    ends = np.array([e for _, e in cuts], dtype=np.int32)
    got = murmurhash.murmurhash3_32(buffer, starts, ends - starts)
    assert got.tolist() == expected(data.tobytes(), starts, ends)
