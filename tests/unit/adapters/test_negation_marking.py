"""Negation marking inside the hashing step, and sentence splitting (`nblr-ctx`)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentiment.adapters.context_scoring import aggregates, split_sentences
from sentiment.adapters.text_hashing import (
    NEGATORS,
    SCOPE_ENDS,
    WORDS_AND_MARKS,
    HashingSettings,
    NegationMarking,
    NgramHasher,
)

BLOCK = HashingSettings(
    token_pattern=WORDS_AND_MARKS,
    ngram_range=(1, 3),
    n_features=2**16,
    stop_words=("br",),
    binary=True,
)
PLAIN = NgramHasher(BLOCK)
MARKING = NgramHasher(BLOCK, negation=NegationMarking(window=3))
# A NUL (the hasher's separator between texts) ends a scope too.
_ENDS = SCOPE_ENDS + "\x00"
_TOKENS = re.compile(r"\w+|[!?]|[" + re.escape(_ENDS) + r"]")

# Texts made of words that matter here: negators, "br", marks, scope ends, non-ASCII words.
PIECES = [
    "not", "Not", "no", "never", "don't", "isn't", "t", "good", "bad", "film", "the", "was",
    "br", "<br />", ",", ".", ";", ":", "(", ")", '"', "!", "?", "'", "naïve", "ΟΔΟΣ", "x_y",
    "\x00",
]  # fmt: skip
texts_of_pieces = st.lists(
    st.tuples(st.sampled_from(PIECES), st.sampled_from([" ", "", "  ", "\n"])), max_size=40
).map(lambda parts: "".join(p + sep for p, sep in parts))


def same(a: Any, b: Any) -> bool:
    """Two sparse matrices hold the same values."""
    return bool(np.array_equal(a.toarray(), b.toarray()))


def reference_stream(text: str, window: int = 3) -> str:
    """The marked token stream, computed token by token in Python (what the block-2 n-grams are
    the n-grams of)."""
    out: list[str] = []
    left = 0
    for token in _TOKENS.findall(text.lower()):
        if token in _ENDS:
            left = 0
        elif token in "!?":
            left = 0
            out.append(token)
        elif token != "br":
            out.append("neg_" + token if left else token)
            left = max(left - 1, 0)
            if token in NEGATORS:
                left = window
    return " ".join(out)


@settings(max_examples=200)
@given(st.lists(st.one_of(texts_of_pieces, st.text(max_size=60)), min_size=1, max_size=6))
def test_marking_never_changes_the_plain_block(texts: list[str]) -> None:
    marked, plain = MARKING.transform(texts), PLAIN.transform(texts)
    assert marked.shape == (len(texts), 2 * PLAIN.n_features)
    assert same(marked[:, : PLAIN.n_features], plain)


@settings(max_examples=200)
@given(st.lists(texts_of_pieces, min_size=1, max_size=6))
@example(["I did not like it at all. Not bad, though!"])
@example(["It isn't good<br />good"])
def test_the_second_block_is_the_marked_stream(texts: list[str]) -> None:
    marked = MARKING.transform(texts)
    expected = PLAIN.transform([reference_stream(t) for t in texts])
    assert same(marked[:, PLAIN.n_features :], expected)
    # Other n-gram ranges and windows too.
    for low, high, window in ((1, 1, 1), (2, 4, 2)):
        block = dataclasses.replace(BLOCK, ngram_range=(low, high))
        got = NgramHasher(block, negation=NegationMarking(window)).transform(texts)
        plain = NgramHasher(block).transform([reference_stream(t, window) for t in texts])
        assert same(got[:, PLAIN.n_features :], plain)


@settings(max_examples=100)
@given(st.text(alphabet="abcdefg .,!?", max_size=80))
def test_without_a_negator_both_blocks_are_the_same(text: str) -> None:
    marked = MARKING.transform([text])
    plain = PLAIN.transform([text])
    assert same(marked[:, PLAIN.n_features :], plain)


@settings(max_examples=100)
@given(st.lists(texts_of_pieces, min_size=1, max_size=5))
def test_one_text_alone_equals_its_row_in_a_batch(texts: list[str]) -> None:
    batch = MARKING.transform(texts)
    for i, text in enumerate(texts):
        columns, values = MARKING.one(text)
        assert columns.tolist() == batch[i].indices.tolist()
        assert values.tolist() == batch[i].data.tolist()


def test_a_negator_marks_the_next_three_words_up_to_punctuation() -> None:
    assert reference_stream("I do not like this film at all") == (
        "i do not neg_like neg_this neg_film at all"
    )
    assert reference_stream("not good, but fun") == "not neg_good but fun"
    assert reference_stream("I don't know!") == "i don t neg_know !"
    single = MARKING.transform(["not good"])
    hashed = PLAIN.transform(["not neg_good"])
    assert sorted(single.indices[single.indices >= PLAIN.n_features] - PLAIN.n_features) == (
        sorted(hashed.indices)
    )


def test_the_marking_settings_round_trip_and_are_checked() -> None:
    marking = NegationMarking(window=5, negators=("not", "no"))
    assert NegationMarking.from_json(marking.to_json()) == marking
    for bad in ({"window": 0, "negators": []}, {"window": 3}, {"window": 3, "negators": [""]}):
        with pytest.raises(ValueError, match="negat"):
            NegationMarking.from_json(bad)


# -- sentences ---------------------------------------------------------------------------------


def test_sentences_end_at_line_breaks_and_after_full_stops() -> None:
    text = "Great film. I loved it!<br /><br />Would I see it again? Yes...  ok"
    assert split_sentences(text) == [
        "Great film.",
        "I loved it!",
        "Would I see it again?",
        "Yes...",
        "ok",
    ]
    assert split_sentences("3.5 stars, e.g.this") == ["3.5 stars, e.g.this"]
    assert split_sentences("...") == ["..."]
    assert split_sentences("") == [""]


@given(st.text(max_size=200))
def test_every_sentence_holds_a_word_and_comes_from_the_text(text: str) -> None:
    sentences = split_sentences(text)
    assert sentences
    if sentences != [text]:
        assert all(re.search(r"\w", s) for s in sentences)
        position = 0
        for sentence in sentences:  # in order, each a piece of the text
            found = text.find(sentence, position)
            assert found >= 0
            position = found + len(sentence)


def test_aggregates_of_sentence_scores() -> None:
    got = aggregates(np.array([1.0, -2.0]), np.array([1.0, -1.0, 3.0, -2.0]), np.array([3, 1]))
    expected = [[1.0, 1.0, 3.0, -1.0, 1.0, 3.0, 2 / 3, np.log(3)], [-2.0] * 6 + [0.0, 0.0]]
    np.testing.assert_allclose(got, expected)
