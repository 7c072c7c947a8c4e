"""byte_tokens finds, in a UTF-8 buffer, exactly the tokens the regular expression finds in the
text, and tells short words and stop words apart byte for byte."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentiment.adapters.byte_tokens import (
    SEPARATOR,
    SKLEARN_DEFAULT,
    TOKEN_PATTERNS,
    WORDS_AND_MARKS,
    characters,
    not_stop_words,
    short_words,
    tokens,
)

# Word and non-word characters of every UTF-8 length and lead byte: ASCII; 2 bytes (é, ß; the
# combining acute, « and a no-break space are no word characters); 3 bytes (中, ー, क, 한; the
# ellipsis and the danda are not); 4 bytes (a mathematical bold A, an Aegean number, CJK
# extension B and G ideographs; an emoji and a tag character are not), the separator of texts
# and the marks. Each decodes to a code point whose class a wrong bit would change.
ALPHABET = st.sampled_from(
    [
        *"aZb_9!?.,'-< />", " ", "\n", SEPARATOR, "é", "ß", "\u0301", "«", "中", "ー", "…",
        "\u00a0", "क", "।", "한", "\U0001d400", "\U00010107", "\U00020000", "\U00030000", "😀",
        "\U000e0041", "Σ", "ς",
    ]
)  # fmt: skip
TEXTS = st.text(ALPHABET, max_size=60)


def buffer(text: str) -> np.ndarray[Any, Any]:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def regex_tokens(pattern: str, text: str) -> list[tuple[int, int]]:
    """Byte offsets (start, end) of the pattern's matches in the UTF-8 text."""

    def at(i: int) -> int:
        return len(text[:i].encode("utf-8"))

    return [(at(m.start()), at(m.end())) for m in re.finditer(pattern, text)]


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
@example(text="")
@example(text="!!a?b! é éé 中 x\U0001d400y 😀z")
@example(text="it was good<br />bad!? ok")
def test_tokens_are_the_matches_of_the_token_pattern(text: str) -> None:
    for pattern, (min_run, marks) in TOKEN_PATTERNS.items():
        starts, ends = tokens(buffer(text), text.isascii(), min_run, marks)
        got = list(zip(starts.tolist(), ends.tolist(), strict=True))
        assert got == regex_tokens(pattern, text), pattern


def test_the_patterns_are_those_of_the_models() -> None:
    # Words and "!"/"?" as tokens (the models' pattern), and scikit-learn's default: the
    # strings saved models hold.
    assert set(TOKEN_PATTERNS) == {WORDS_AND_MARKS, SKLEARN_DEFAULT}
    assert re.findall(WORDS_AND_MARKS, "Don't!! x?") == ["Don", "t", "!", "!", "x", "?"]
    assert re.findall(SKLEARN_DEFAULT, "Don't!! x?") == ["Don"]


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, cuts=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=8))
def test_characters_counts_the_characters_of_each_slice(
    text: str, cuts: list[tuple[int, int]]
) -> None:
    # Slices cut at character boundaries, counted in characters whatever their bytes.
    pairs = [(min(a, b, len(text)), min(max(a, b), len(text))) for a, b in cuts]
    at = [len(text[:i].encode("utf-8")) for i in range(len(text) + 1)]
    starts = np.array([at[a] for a, _ in pairs], dtype=np.int64)
    ends = np.array([at[b] for _, b in pairs], dtype=np.int64)
    got = characters(buffer(text), starts, ends, text.isascii())
    assert got.tolist() == [b - a for a, b in pairs]


WORDS = st.text(st.sampled_from([*"abnot", "é", "中"]), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(WORDS, max_size=12), listed=st.lists(WORDS, max_size=6))
@example(words=["scarcely", "scarcel", "not", "nothing", "no"], listed=["scarcely", "no"])
@example(words=["nobodyxx", "nobodyx", "ab"], listed=["nobodyxx", "b"])
def test_short_words_and_stop_words_are_whole_token_matches(
    words: list[str], listed: list[str]
) -> None:
    text = " ".join(words)
    u8 = buffer(text)
    starts, ends = tokens(u8, text.isascii(), 1, "!?")
    found = [text.encode("utf-8")[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    wanted = {w.encode("utf-8") for w in listed}
    short = sorted(int.from_bytes(w, "little") for w in wanted if len(w) <= 8)
    keys = np.array(short, dtype=np.uint64)
    is_short = short_words(u8, starts, ends, keys)
    assert is_short.tolist() == [w in wanted and len(w) <= 8 for w in found]
    keep = not_stop_words(u8, starts, ends, sorted(wanted))
    assert keep.tolist() == [w not in wanted for w in found]
