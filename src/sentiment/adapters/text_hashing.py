"""A vectorised re-implementation of `HashingVectorizer.transform` for word n-grams.

scikit-learn builds every n-gram as a Python string and hashes it one at a time: about 1 ms per
IMDB review for 1-3grams, which caps a server at ~1,000 reviews/s per core. This module computes
the very same matrix with numpy over a whole batch at once:

1. lowercase each text (`str.lower`, as scikit-learn does) and join them with a separator;
2. classify code points as word characters (`str.isalnum()` or `_`, exactly what `\\w` matches)
   and find the tokens of the supported token patterns;
3. drop stop words, lay the remaining tokens out as `" ".join(tokens)` in one UTF-8 buffer, so that
   every n-gram is a contiguous slice of it;
4. run MurmurHash3 (x86, 32 bit, seed 0, as `sklearn.utils.murmurhash3_32`) over all slices at
   once, block by block;
5. fold hashes into columns like `FeatureHasher`, sum duplicates, binarise and normalise like
   `HashingVectorizer`.

`transform(vectorizer, texts)` returns a matrix equal to `vectorizer.transform(texts)` (same
indices, same float values, same dtype) and falls back to `vectorizer.transform` for settings this
module does not reproduce (`supports(vectorizer)` says which). The tests compare both on real
reviews and on generated Unicode text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils import murmurhash3_32

# Token patterns reproduced here: maximal runs of at least `min_run` word characters, plus the
# listed characters as one-character tokens of their own.
WORDS_AND_MARKS = r"(?u)\b\w+\b|[!?]"
SKLEARN_DEFAULT = r"(?u)\b\w\w+\b"
_PATTERNS: dict[str, tuple[int, str]] = {WORDS_AND_MARKS: (1, "!?"), SKLEARN_DEFAULT: (2, "")}

# Documents in a batch are joined with this code point; it is neither a word character nor a mark,
# so no token can span two documents.
_SEPARATOR = "\x00"
_BATCH = 1000  # documents per chunk: bounds the temporary arrays
_FEW = 16  # the longest n-grams of a batch hashed one by one (see _murmurhash3_32)

_U32 = np.uint32
_C1, _C2 = _U32(0xCC9E2D51), _U32(0x1B873593)
_M5, _N1 = _U32(5), _U32(0xE6546B64)
_F1, _F2 = _U32(0x85EBCA6B), _U32(0xC2B2AE35)


def _ascii_kinds(marks: str) -> Array:
    """Kind of every byte value: 1 for ASCII word characters, 2 for marks, 0 otherwise."""
    kinds = np.zeros(256, dtype=np.int8)
    for c in range(128):
        if chr(c).isalnum() or chr(c) == "_":
            kinds[c] = 1
    for mark in marks:
        kinds[ord(mark)] = 2
    return kinds


_ASCII_KIND = {marks: _ascii_kinds(marks) for _, marks in _PATTERNS.values()}

Array = np.ndarray[Any, Any]


def hasher_for(vectorizer: HashingVectorizer) -> NgramHasher | None:
    """A fast equivalent of the vectorizer's `transform`, or None when its settings are not
    among those reproduced here (then use `vectorizer.transform`)."""
    try:
        return NgramHasher(vectorizer)
    except ValueError:
        return None


class NgramHasher:
    """`HashingVectorizer.transform` for word n-grams, computed with numpy over a batch."""

    def __init__(self, vectorizer: HashingVectorizer) -> None:
        v = vectorizer
        stop = v.stop_words
        if not (
            v.analyzer == "word"
            and v.input == "content"
            and v.preprocessor is None
            and v.tokenizer is None
            and v.strip_accents is None
            and v.token_pattern in _PATTERNS
            and (stop is None or isinstance(stop, list | tuple | set | frozenset))
            and all(isinstance(w, str) for w in (stop or ()))
            and v.alternate_sign is False
            and v.norm in (None, "l1", "l2")
            and len(v.ngram_range) == 2
            and 1 <= v.ngram_range[0] <= v.ngram_range[1]
            and 0 < int(v.n_features) <= 2**31
        ):
            raise ValueError(f"settings not reproduced by NgramHasher: {v!r}")
        self._n_features = int(v.n_features)
        self._ngram_range = (int(v.ngram_range[0]), int(v.ngram_range[1]))
        self._min_run, self._marks = _PATTERNS[v.token_pattern]
        self._lowercase = bool(v.lowercase)
        self._stop_words = sorted({w.encode("utf-8") for w in (stop or ()) if w})
        self._binary = bool(v.binary)
        self._norm: str | None = v.norm
        self._dtype = np.dtype(v.dtype)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The matrix `HashingVectorizer.transform(texts)` returns, as a CSR matrix."""
        if len(texts) == 0:
            raise ValueError("Cannot vectorize empty sequence.")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be str")
        if len(texts) <= _BATCH:
            x = self._chunk(texts)
        else:
            x = sp.csr_matrix(
                sp.vstack(
                    [self._chunk(texts[i : i + _BATCH]) for i in range(0, len(texts), _BATCH)],
                    format="csr",
                )
            )
        if self._binary:
            x.data.fill(1)
        if self._norm is not None:
            x = normalize(x, norm=self._norm, copy=False)
        return x

    def _chunk(self, texts: Sequence[str]) -> sp.csr_matrix:
        n_docs = len(texts)
        n_features = self._n_features
        min_n, max_n = self._ngram_range
        min_run, marks = self._min_run, self._marks

        joined = _SEPARATOR.join(texts)
        separators_are_boundaries = joined.count(_SEPARATOR) == n_docs - 1
        # One `lower` for the whole batch equals one per text: the separator is not a cased or
        # case-ignorable character, so it ends the context of the final-sigma rule like a text end.
        raw = (joined.lower() if self._lowercase else joined).encode("utf-8")
        u8: Array = np.frombuffer(raw, dtype=np.uint8)
        if separators_are_boundaries:
            boundaries = np.flatnonzero(u8 == 0)
        else:  # some text holds the separator itself: measure every text instead
            sizes = np.fromiter(
                (len((t.lower() if self._lowercase else t).encode("utf-8")) for t in texts),
                np.int64,
                n_docs,
            )
            boundaries = np.cumsum(sizes[:-1] + 1)

        starts, ends = _tokens(u8, raw.isascii(), min_run, marks)
        if self._stop_words and starts.size:
            keep = ~_is_stop_word(u8, starts, ends, self._stop_words)
            starts, ends = starts[keep], ends[keep]
        docs = np.searchsorted(boundaries, starts).astype(np.int32)

        # Every kept token copied into one buffer, separated by " ": the text of any n-gram is then
        # the contiguous slice from the start of its first token to the end of its last one.
        n_tokens = starts.size
        tok_len = (ends - starts).astype(np.int32)
        out_starts = np.zeros(n_tokens, dtype=np.int32)
        if n_tokens > 1:
            np.cumsum(tok_len[:-1] + 1, out=out_starts[1:])
        total = int(out_starts[-1] + tok_len[-1] + 1) if n_tokens else 0
        out_ends = out_starts + tok_len
        source = np.repeat((starts - out_starts).astype(np.int32), tok_len + 1)
        source += np.arange(total, dtype=np.int32)
        source[out_ends] = 0  # the slot after each token becomes " " below
        buffer = np.zeros(
            total + 3, dtype=np.uint8
        )  # 3 zero bytes so every 4-byte read is in range
        np.take(u8, source, out=buffer[:total])
        buffer[out_ends] = 0x20

        # n-grams of n tokens starting at every token, kept when they stay inside one text.
        first_parts: list[Array] = []
        last_parts: list[Array] = []
        for n in range(min_n, max_n + 1):
            if n_tokens < n:
                break
            first = np.arange(n_tokens - n + 1, dtype=np.int32)
            last = first + np.int32(n - 1)
            inside = docs[: n_tokens - n + 1] == docs[n - 1 :]
            first_parts.append(first[inside])
            last_parts.append(last[inside])
        if first_parts:
            first = np.concatenate(first_parts)
            last = np.concatenate(last_parts)
        else:
            first = last = np.zeros(0, dtype=np.int32)
        gram_starts = out_starts[first]
        gram_lengths = out_ends[last] - gram_starts

        columns = _column(_murmurhash3_32(buffer, gram_starts, gram_lengths), n_features)
        # Sort by (text, column) and count repeats: the rows of a canonical CSR matrix.
        keys = (docs[first].astype(np.int64) << 32) | columns
        keys.sort()
        new = np.empty(keys.size, dtype=bool)
        new[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=new[1:])
        where_new = np.flatnonzero(new)
        unique = keys[where_new]
        counts = np.diff(np.append(where_new, keys.size))
        rows = (unique >> 32).astype(np.int32)
        indptr = np.zeros(n_docs + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=n_docs), out=indptr[1:])
        return sp.csr_matrix(
            (counts.astype(self._dtype), (unique & 0xFFFFFFFF).astype(np.int32), indptr),
            shape=(n_docs, n_features),
        )


def _tokens(u8: Array, is_ascii: bool, min_run: int, marks: str) -> tuple[Array, Array]:
    """Start and end (exclusive) byte offsets of every token of a UTF-8 buffer, in order.

    Tokens are maximal runs of at least `min_run` word characters, and every mark character
    on its own (the marks are ASCII and not word characters).
    """
    n = u8.size
    # 0: no token, 1: word character, 2: mark; padded with a 0 on each side.
    kind = np.zeros(n + 2, dtype=np.int8)
    inner = kind[1:-1]
    np.take(_ASCII_KIND[marks], u8, out=inner)
    if not is_ascii:
        _classify_non_ascii(u8, inner)
    # A token starts where the kind changes to 1 or 2, and at every mark.
    boundary = kind[1:] != kind[:-1]
    change = np.flatnonzero(boundary)
    if not marks:
        run_starts, run_ends = change[0::2], change[1::2]
        long_enough = run_ends - run_starts >= min_run
        return run_starts[long_enough], run_ends[long_enough]
    # With marks, runs of marks ("!!") hold one token per mark: split them.
    is_mark = inner == 2
    starts_flag = boundary[:-1] & (inner != 0)
    starts_flag |= is_mark
    ends_flag = boundary[1:] & (inner != 0)
    ends_flag |= is_mark
    starts = np.flatnonzero(starts_flag)
    ends = np.flatnonzero(ends_flag) + 1
    if min_run > 1:
        keep = (ends - starts >= min_run) | is_mark[starts]
        starts, ends = starts[keep], ends[keep]
    return starts, ends


def _classify_non_ascii(u8: Array, kind: Array) -> None:
    """Mark the bytes of non-ASCII word characters (`str.isalnum()`) as word bytes (1)."""
    lead = np.flatnonzero(u8 >= 0xC0)
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


def _is_stop_word(u8: Array, starts: Array, ends: Array, stop_words: list[bytes]) -> Array:
    lengths = ends - starts
    stop = np.zeros(starts.size, dtype=bool)
    for word in set(stop_words):
        target = np.frombuffer(word, dtype=np.uint8)
        candidates = np.flatnonzero(lengths == target.size)
        if candidates.size == 0:
            continue
        chars = u8[starts[candidates, None] + np.arange(target.size)]
        stop[candidates[(chars == target).all(axis=1)]] = True
    return stop


def _rotl(x: Array, r: int, scratch: Array) -> None:
    """x = rotate-left(x, r), in place (uint32)."""
    np.left_shift(x, _U32(r), out=scratch)
    np.right_shift(x, _U32(32 - r), out=x)
    np.bitwise_or(x, scratch, out=x)


def _mix_block(k: Array, scratch: Array) -> None:
    np.multiply(k, _C1, out=k)
    _rotl(k, 15, scratch)
    np.multiply(k, _C2, out=k)


def _murmurhash3_32(buffer: Array, starts: Array, lengths: Array) -> Array:
    """MurmurHash3_x86_32 with seed 0 of every slice `buffer[s:s+n]`, as signed int32.

    The slices are hashed side by side, block by block: sorted longest first, the slices that
    still have a k-th block are a prefix. The few longest slices of the batch (a URL, a run of
    dashes) are hashed by `sklearn.utils.murmurhash3_32` one by one instead, so that the loop stops
    at the length of the typical n-gram. `buffer` ends with 3 zero bytes.
    """
    n = starts.size
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    b = buffer.astype(np.uint32)
    # The little-endian 32-bit word that starts at every byte offset.
    words = b[3:] << _U32(24)
    words |= b[2:-1] << _U32(16)
    words |= b[1:-2] << _U32(8)
    words |= b[:-3]
    n_blocks = lengths >> 2
    if int(n_blocks.max()) < 0xFFFF:  # a 16-bit key sorts in linear time
        order = np.argsort((0xFFFF - n_blocks).astype(np.uint16), kind="stable")
    else:
        order = np.argsort(-n_blocks, kind="stable")
    blocks = n_blocks[order]
    length = lengths[order]
    n_single = n if n <= _FEW else int(np.searchsorted(-blocks, -blocks[_FEW], side="left"))
    m = n - n_single
    h = np.zeros(m, dtype=np.uint32)
    k1 = np.empty(m, dtype=np.uint32)
    scratch = np.empty(m, dtype=np.uint32)
    position = starts[order[n_single:]]
    with np.errstate(over="ignore"):
        if m:
            # still_hashing[k]: how many slices have more than k blocks.
            still_hashing = np.searchsorted(
                -blocks[n_single:], -np.arange(int(blocks[n_single])), side="left"
            ).tolist()
            for c in still_hashing:
                k1_c, h_c, scratch_c, position_c = k1[:c], h[:c], scratch[:c], position[:c]
                np.take(words, position_c, out=k1_c)
                position_c += 4
                _mix_block(k1_c, scratch_c)
                h_c ^= k1_c
                _rotl(h_c, 13, scratch_c)
                h_c *= _M5
                h_c += _N1
            # `position` is now at each slice's 0-3 tail bytes: mask the word down to them.
            np.take(words, position, out=k1)
            tail_bits = (length[n_single:] & 3).astype(np.uint32) << _U32(3)
            k1 &= np.left_shift(_U32(1), tail_bits) - _U32(1)
            _mix_block(k1, scratch)
            h ^= k1
            h ^= length[n_single:].astype(np.uint32)
            for shift, factor in ((16, _F1), (13, _F2)):
                np.right_shift(h, _U32(shift), out=scratch)
                h ^= scratch
                h *= factor
            np.right_shift(h, _U32(16), out=scratch)
            h ^= scratch
    result = np.empty(n, dtype=np.int32)
    result[order[n_single:]] = h.view(np.int32)
    if n_single:
        raw = buffer.tobytes()
        single = order[:n_single]
        result[single] = [
            murmurhash3_32(raw[start : start + size], seed=0)
            for start, size in zip(starts[single].tolist(), lengths[single].tolist(), strict=True)
        ]
    return result


def _column(hashes: Array, n_features: int) -> Array:
    """FeatureHasher's column: abs(h) % n_features, with abs(-2**31) taken as 2**31."""
    h = hashes.astype(np.int64)
    return np.abs(h) % n_features
