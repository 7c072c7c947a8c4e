"""Negation scopes over tokens (Das & Chen 2001; Pang et al. 2002): which words follow a negator
closely enough to be read as `neg_<word>` (`text_hashing.NgramHasher` with a `NegationMarking`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment.adapters.byte_tokens import ASCII_KIND, SEPARATOR

Array = np.ndarray[Any, Any]

# Words after which the next words are negated. "t" is the end of "don't", "isn't", ... (the
# apostrophe is no word character).
NEGATORS: tuple[str, ...] = (
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "nowhere", "cannot",
    "t", "without", "hardly", "barely", "scarcely", "dont", "doesnt", "didnt", "isnt", "wasnt",
    "cant", "wont", "aren", "arent",
)  # fmt: skip
NEGATION_PREFIX = "neg_"
# Characters that end a negation scope, besides the marks "!" and "?" (tokens of their own) and
# the end of a text (and a NUL, the separator of texts in a batch); "<" ends it at "<br />".
SCOPE_ENDS = '.,;:()"<'


@dataclass(frozen=True, slots=True)
class NegationMarking:
    """Negation scopes: the `window` words after a negator, up to the next scope end."""

    window: int = 3
    negators: tuple[str, ...] = NEGATORS

    def to_json(self) -> dict[str, Any]:
        return {"window": self.window, "negators": list(self.negators)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NegationMarking:
        """Settings written by `to_json`. Raises ValueError when they are malformed."""
        if not isinstance(data, dict) or set(data) != {"window", "negators"}:
            raise ValueError("negation settings must have exactly the keys negators, window")
        window, negators = data["window"], data["negators"]
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 1000:
            raise ValueError(f"negation window must be an integer in [1, 1000], got {window!r}")
        if not isinstance(negators, list) or not all(isinstance(w, str) and w for w in negators):
            raise ValueError("negators must be a list of non-empty strings")
        return cls(window=window, negators=tuple(negators))


def _scope_end_table() -> Array:
    table = np.zeros(256, dtype=np.int8)
    for c in SCOPE_ENDS + SEPARATOR:
        table[ord(c)] = 1
    return table


_SCOPE_END = _scope_end_table()


def negation_scope(
    u8: Array,
    starts: Array,
    is_negator: Array,
    docs: Array | None,
    window: int,
    marks: str,
) -> Array:
    """True for the tokens in a negation scope: words at most `window` tokens after the last
    negator before them, with no scope end (SCOPE_ENDS, a mark, the end of a text) between."""
    n = starts.size
    # Scope ends seen before each byte; a token's segment: those before its start, plus the
    # marks up to it (a mark ends the scope of the negators before it).
    ends_before = np.zeros(u8.size + 1, dtype=np.int32)
    np.cumsum(_SCOPE_END.take(u8), out=ends_before[1:])
    is_mark = ASCII_KIND[marks].take(u8[starts]) == 2
    segment = ends_before[starts] + np.cumsum(is_mark, dtype=np.int32)
    if docs is not None:
        segment = segment + docs  # texts are separate anyway (the separator is a scope end)
    index = np.arange(n, dtype=np.int32)
    last = np.where(is_negator, index, -1)
    np.maximum.accumulate(last, out=last)
    previous = np.empty(n, dtype=np.int32)  # the last negator strictly before each token
    previous[:1] = -1
    previous[1:] = last[:-1]
    found = previous >= 0
    at = np.where(found, previous, 0)
    result: Array = found & (segment[at] == segment) & (index - previous <= window) & ~is_mark
    return result


def prefixed_buffer(
    u8: Array, starts: Array, token_len: Array, marked: Array
) -> tuple[Array, Array, Array]:
    """Every token copied into one buffer, `NEGATION_PREFIX` before the marked ones, each
    followed by " ": (buffer, where each token's text starts, where its " " is)."""
    prefix = np.frombuffer(NEGATION_PREFIX.encode("ascii"), dtype=np.uint8)
    extra = marked.astype(np.int32) * prefix.size
    step = token_len + extra + 1
    out_ends = step.cumsum(dtype=np.int32)
    total = int(out_ends[-1]) if step.size else 0
    out_starts = out_ends - step
    out_ends -= 1
    buffer = np.full(total + 4, 0x20, dtype=np.uint8)
    buffer[total:] = 0
    n_bytes = int(token_len.sum())
    within = np.arange(n_bytes, dtype=np.int32) - np.repeat(
        token_len.cumsum(dtype=np.int32) - token_len, token_len
    )
    text_at = out_starts + extra
    buffer[np.repeat(text_at, token_len) + within] = u8[
        np.repeat(starts.astype(np.int32), token_len) + within
    ]
    at = out_starts[marked]
    for k, byte in enumerate(prefix.tolist()):
        buffer[at + k] = byte
    return buffer, out_starts, out_ends
