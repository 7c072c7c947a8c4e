"""Tokens of a UTF-8 byte buffer, found with numpy: the tokenising step of
`text_hashing.NgramHasher`.

The token patterns reproduced are maximal runs of at least `min_run` word characters
(`str.isalnum()` or `_`, exactly what `\\w` matches), plus listed ASCII characters ("marks") as
one-character tokens of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

# Token pattern -> (min_run, marks).
WORDS_AND_MARKS = r"(?u)\b\w+\b|[!?]"
SKLEARN_DEFAULT = r"(?u)\b\w\w+\b"
TOKEN_PATTERNS: dict[str, tuple[int, str]] = {
    WORDS_AND_MARKS: (1, "!?"),
    SKLEARN_DEFAULT: (2, ""),
}

# Documents in a batch are joined with this code point; it is neither a word character nor a mark,
# so no token can span two documents.
SEPARATOR = "\x00"


def _ascii_kinds(marks: str) -> Array:
    """Kind of every byte value: 1 for ASCII word characters, 2 for marks, 0 otherwise."""
    kinds = np.zeros(256, dtype=np.int8)
    for c in range(128):
        if chr(c).isalnum() or chr(c) == "_":
            kinds[c] = 1
    for mark in marks:
        kinds[ord(mark)] = 2
    return kinds


ASCII_KIND = {marks: _ascii_kinds(marks) for _, marks in TOKEN_PATTERNS.values()}


def tokens(u8: Array, is_ascii: bool, min_run: int, marks: str) -> tuple[Array, Array]:
    """Start and end (exclusive) byte offsets of every token of a UTF-8 buffer, in order.

    Tokens are maximal runs of at least `min_run` word characters, and every mark character
    on its own (the marks are ASCII and not word characters).
    """
    # 0: no token, 1: word character, 2: mark; padded with a 0 on each side.
    kind = np.zeros(u8.size + 2, dtype=np.int8)
    inner = kind[1:-1]
    ASCII_KIND[marks].take(u8, out=inner)
    if not is_ascii:
        _classify_non_ascii(u8, inner)
    boundary = kind[1:] != kind[:-1]
    if not marks:
        change = boundary.nonzero()[0]
        starts, ends = change[0::2], change[1::2]
    else:
        # A token starts where the kind changes to 1 or 2, and at every mark ("!!" is 2 tokens).
        is_mark = inner == 2
        in_token = inner != 0
        starts = ((boundary[:-1] & in_token) | is_mark).nonzero()[0]
        ends = ((boundary[1:] & in_token) | is_mark).nonzero()[0]
        ends += 1
    if min_run > 1:  # runs of fewer characters (not bytes) are no tokens; marks always are
        keep = characters(u8, starts, ends, is_ascii) >= min_run
        if marks:
            keep |= is_mark[starts]
        starts, ends = starts[keep], ends[keep]
    return starts, ends


def short_words(u8: Array, starts: Array, ends: Array, keys: Array) -> Array:
    """True for the tokens of at most 8 bytes whose bytes, read as a little-endian integer, are
    among the sorted `keys` (tokens hold no zero byte, so no two words share a key)."""
    found = np.zeros(starts.size, dtype=bool)
    lengths = ends - starts
    candidates = (lengths <= 8).nonzero()[0]
    if keys.size == 0 or candidates.size == 0:
        return found
    padded = np.zeros(u8.size + 8, dtype=np.uint8)
    padded[: u8.size] = u8
    # The 8 bytes from every offset, as one unaligned little-endian uint64 (nothing copied).
    words = np.ndarray(shape=(u8.size + 1,), dtype="<u8", buffer=padded, strides=(1,))
    key = words.take(starts[candidates]).astype(np.uint64)
    drop = ((8 - lengths[candidates]) * 8).astype(np.uint64)  # the bytes after the token
    key <<= drop
    key >>= drop
    at = np.minimum(np.searchsorted(keys, key), keys.size - 1)
    found[candidates] = keys[at] == key
    return found


def characters(u8: Array, starts: Array, ends: Array, is_ascii: bool) -> Array:
    """How many characters each slice u8[start:end] of UTF-8 holds."""
    if is_ascii:
        lengths: Array = ends - starts
        return lengths
    first_bytes = np.zeros(u8.size + 1, dtype=np.int64)
    np.cumsum((u8 & 0xC0) != 0x80, out=first_bytes[1:])
    counts: Array = first_bytes[ends] - first_bytes[starts]
    return counts


def _classify_non_ascii(u8: Array, kind: Array) -> None:
    """Mark the bytes of non-ASCII word characters (`str.isalnum()`) as word bytes (1)."""
    lead = (u8 >= 0xC0).nonzero()[0]
    if lead.size:
        padded = np.zeros(u8.size + 3, dtype=np.uint32)
        padded[: u8.size] = u8
        b0, b1, b2, b3 = (padded[lead + i] for i in range(4))
        cp = np.where(
            b0 < 0xE0,
            ((b0 & 0x1F) << 6) | (b1 & 0x3F),
            np.where(
                b0 < 0xF0,
                ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F),
                ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F),
            ),
        )
        values, inverse = np.unique(cp, return_inverse=True)
        table = np.array([chr(int(c)).isalnum() for c in values], dtype=np.int8)
        kind[lead] = table[inverse]
    # Continuation bytes (10xxxxxx) take the kind of the character they belong to.
    continuation = (u8 & 0xC0) == 0x80
    if continuation.any():
        owner = np.where(continuation, 0, np.arange(u8.size))
        np.maximum.accumulate(owner, out=owner)
        kind[continuation] = kind[owner[continuation]]


def not_stop_words(u8: Array, starts: Array, ends: Array, stop_words: list[bytes]) -> Array:
    """False for the tokens that are stop words."""
    keep = np.ones(starts.size, dtype=bool)
    lengths = ends - starts
    for word in stop_words:
        candidates = (lengths == len(word)).nonzero()[0]
        if candidates.size == 0:
            continue
        at = starts[candidates]
        same = u8[at] == word[0]
        for i in range(1, len(word)):
            same &= u8[at + i] == word[i]
        keep[candidates[same]] = False
    return keep
