"""MurmurHash3 (x86, 32 bit, seed 0, as `sklearn.utils.murmurhash3_32`) of many byte slices at
once, with numpy: the hashing step of `text_hashing.NgramHasher`."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

LONG_BLOCKS = 64  # slices of more 4-byte blocks are hashed one by one (see murmurhash3_32)

_U32 = np.uint32
_C1, _C2 = _U32(0xCC9E2D51), _U32(0x1B873593)
_M5, _N1 = _U32(5), _U32(0xE6546B64)
_F1, _F2 = _U32(0x85EBCA6B), _U32(0xC2B2AE35)


def _rotl(x: Array, r: int, scratch: Array) -> None:
    """x = rotate-left(x, r), in place (uint32)."""
    np.left_shift(x, _U32(r), out=scratch)
    np.right_shift(x, _U32(32 - r), out=x)
    np.bitwise_or(x, scratch, out=x)


def _mix_block(k: Array, scratch: Array) -> None:
    np.multiply(k, _C1, out=k)
    _rotl(k, 15, scratch)
    np.multiply(k, _C2, out=k)


def murmurhash3_32(buffer: Array, starts: Array, lengths: Array) -> Array:
    """MurmurHash3_x86_32 with seed 0 of every slice `buffer[s:s+n]`, as signed int32.

    The slices are hashed side by side, block by block: sorted longest first, the slices that
    still have a k-th block are a prefix. Slices longer than `LONG_BLOCKS` blocks (a URL, a run
    of dashes) are hashed one by one instead (`murmurhash3_32_one`), so that the loop stops at
    the length of ordinary n-grams. `buffer` ends with 4 zero bytes.
    """
    n = starts.size
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    # The little-endian 32-bit word that starts at every byte offset: an unaligned view with a
    # stride of one byte (read by `take` only; nothing is copied).
    contiguous = np.ascontiguousarray(buffer, dtype=np.uint8)
    words = np.ndarray(shape=(contiguous.size - 3,), dtype="<u4", buffer=contiguous, strides=(1,))
    n_blocks = lengths >> 2
    if int(n_blocks.max()) < 0xFFFF:  # a 16-bit key sorts in linear time
        order = np.argsort((0xFFFF - n_blocks).astype(np.uint16), kind="stable")
    else:
        order = np.argsort(-n_blocks, kind="stable")
    blocks = n_blocks[order]
    length = lengths[order]
    n_single = int(np.searchsorted(-blocks, -LONG_BLOCKS, side="left"))
    m = n - n_single
    h = np.zeros(m, dtype=np.uint32)
    if m:
        position = starts[order[n_single:]]
        blocks, length = blocks[n_single:], length[n_single:]
        # still_hashing[k]: how many slices have more than k blocks (a prefix of them).
        still_hashing = np.searchsorted(-blocks, -np.arange(int(blocks[0])), side="left").tolist()
        # Every block's mixed k1 does not depend on the hash state: compute them all at once,
        # the body blocks k = 0, 1, ... of the slices still that long, then every slice's tail.
        at = [position[:c] + 4 * k for k, c in enumerate(still_hashing)]
        at.append(position + (blocks << 2))
        k1 = words.take(np.concatenate(at))
        tail = k1[k1.size - m :]  # the 0-3 bytes after the last block, masked below
        tail &= np.left_shift(_U32(1), (length & 3).astype(np.uint32) << _U32(3)) - _U32(1)
        scratch = np.empty(k1.size, dtype=np.uint32)
        with np.errstate(over="ignore"):
            _mix_block(k1, scratch)
            offset = 0
            for c in still_hashing:  # only this chain runs block by block
                h_c = h[:c]
                h_c ^= k1[offset : offset + c]
                _rotl(h_c, 13, scratch[:c])
                h_c *= _M5
                h_c += _N1
                offset += c
            h ^= tail
            h ^= length.astype(np.uint32)
            for shift, factor in ((16, _F1), (13, _F2)):
                np.right_shift(h, _U32(shift), out=scratch[:m])
                h ^= scratch[:m]
                h *= factor
            np.right_shift(h, _U32(16), out=scratch[:m])
            h ^= scratch[:m]
    result = np.empty(n, dtype=np.int32)
    result[order[n_single:]] = h.view(np.int32)
    if n_single:
        single = order[:n_single]
        result[single] = [
            murmurhash3_32_one(buffer[start : start + size].tobytes())
            for start, size in zip(starts[single].tolist(), lengths[single].tolist(), strict=True)
        ]
    return result


def murmurhash3_32_one(data: bytes) -> int:
    """MurmurHash3_x86_32 with seed 0 of `data`, as a signed 32-bit int (for long slices: the
    blocks are mixed with numpy, the hash chain runs over them in Python)."""
    mask = 0xFFFFFFFF
    n_body = len(data) & ~3
    k1: Array = np.frombuffer(data[:n_body] + data[n_body:].ljust(4, b"\x00"), dtype="<u4")
    k1 = k1.astype(np.uint32)
    with np.errstate(over="ignore"):
        _mix_block(k1, np.empty_like(k1))
    mixed: list[int] = k1.tolist()
    h = 0
    for k in mixed[:-1]:
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    h ^= mixed[-1]  # the tail (0-3 bytes, zero-padded; mixing 0 gives 0)
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h
