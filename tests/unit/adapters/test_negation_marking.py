"""Negation marking inside the hashing step, and sentence splitting (`nblr-ctx`)."""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentiment.adapters.byte_tokens import SKLEARN_DEFAULT, WORDS_AND_MARKS
from sentiment.adapters.context_scoring import (
    aggregates,
    features,
    linear_scores,
    sentence_spans,
    split_sentences,
)
from sentiment.adapters.negation import NEGATORS, SCOPE_ENDS, NegationMarking
from sentiment.adapters.text_hashing import HashingSettings, NgramHasher

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


def reference_stream(text: str, window: int = 3, negators: tuple[str, ...] = NEGATORS) -> str:
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
            if token in negators:
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


# Negators of any length: up to 8 bytes they are matched as one 64-bit key, longer ones byte by
# byte; words sharing a negator's first bytes, or holding it, are no negators.
OTHER_NEGATORS = ("scarcely", "nevertheless", "jamás", "ningún", "nié", "x")
OTHER_PIECES = [
    *OTHER_NEGATORS, "scarcel", "scarcelyy", "neverthe", "nevertheles", "nevertheless_", "jamá",
    "ningúno", "ni", "xx", "good", "film", ",", "!", "<br />", "\x00",
]  # fmt: skip


@settings(max_examples=150)
@given(
    st.lists(
        st.lists(st.sampled_from(OTHER_PIECES), max_size=30).map(" ".join), min_size=1, max_size=4
    ),
    st.integers(1, 4),
)
@example(["nevertheless good film, neverthe good scarcely film"], 2)
def test_negators_of_any_length_mark_the_words_after_them(texts: list[str], window: int) -> None:
    hasher = NgramHasher(BLOCK, negation=NegationMarking(window, OTHER_NEGATORS))
    got = hasher.transform(texts)
    expected = PLAIN.transform([reference_stream(t, window, OTHER_NEGATORS) for t in texts])
    assert same(got[:, PLAIN.n_features :], expected)


def test_negators_of_eight_and_nine_bytes_mark_the_next_word() -> None:
    # The longest negators matched as one 64-bit key, and the shortest matched byte by byte.
    negators = ("scarcely", "nevermore", "jamás!")  # 8, 9 bytes; one no token could be
    hasher = NgramHasher(BLOCK, negation=NegationMarking(1, negators))
    texts = ["scarcely good", "nevermore good", "jamás! good", "scarcel nevermor good"]
    got = hasher.transform(texts)
    expected = PLAIN.transform(
        ["scarcely neg_good", "nevermore neg_good", "jamás ! good", "scarcel nevermor good"]
    )
    assert same(got[:, PLAIN.n_features :], expected)


def test_every_default_negator_marks_the_next_word() -> None:
    texts = [f"{negator} good" for negator in NEGATORS]
    got = MARKING.transform(texts)
    expected = PLAIN.transform([f"{negator} neg_good" for negator in NEGATORS])
    assert same(got[:, PLAIN.n_features :], expected)


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
    # The window's bounds, 1 and 1000, are allowed; a model file says nothing else.
    for window in (1, 1000):
        edge = NegationMarking(window=window, negators=("not",))
        assert NegationMarking.from_json(edge.to_json()) == edge
    bad_settings: list[Any] = [
        {"window": 0, "negators": []},
        {"window": 1001, "negators": ["not"]},
        {"window": True, "negators": ["not"]},
        {"window": "3", "negators": ["not"]},
        {"window": 3},
        {"window": 3, "negators": [""]},
        {"window": 3, "negators": "not"},
        {"window": 3, "negators": ["not", 3]},
        {"window": 3, "negators": ["not"], "extra": 1},
        [3, ["not"]],
    ]
    for bad in bad_settings:
        with pytest.raises(ValueError, match="negat"):
            NegationMarking.from_json(bad)


def test_the_marked_block_must_fit_the_columns_and_mark_a_word() -> None:
    # Two blocks of n_features columns: at most 2**30 each, so that every column fits in int32.
    for n_features, window in ((2**30 + 1, 3), (2**31, 3), (2**16, 0)):
        with pytest.raises(ValueError, match="negation marking"):
            NgramHasher(
                dataclasses.replace(BLOCK, n_features=n_features), NegationMarking(window=window)
            )
    widest = dataclasses.replace(BLOCK, n_features=2**30)
    hasher = NgramHasher(widest, NegationMarking(window=1))
    assert (hasher.n_features, hasher.n_columns) == (2**30, 2**31)
    columns, _ = hasher.one("not good film")
    plain, _ = NgramHasher(widest).one("not good film")
    marked, _ = NgramHasher(widest).one("not neg_good film")
    assert columns.tolist() == sorted([*plain.tolist(), *(marked + 2**30).tolist()])


def test_negators_that_lowercasing_changes_are_refused_when_the_text_is_lowercased() -> None:
    # The tokens are matched after lowercasing: "Never" (or a settings file's "ΟΧΙ") would mark
    # nothing, and a model would be served without the marking it declares.
    cased = NegationMarking(window=1, negators=("not", "Never", "ΟΧΙ"))
    from_file = NegationMarking.from_json({"window": 1, "negators": ["not", "NOTHING"]})
    for marking, words in ((cased, "['Never', 'ΟΧΙ']"), (from_file, "['NOTHING']")):
        with pytest.raises(ValueError, match=re.escape(f"negators {words} never match")):
            NgramHasher(BLOCK, marking)
    # Without lowercasing they are the words as written: "Never" marks, "never" does not.
    as_written = dataclasses.replace(BLOCK, lowercase=False)
    got = NgramHasher(as_written, cased).transform(["Never good, never bad ΟΧΙ καλό"])
    expected = NgramHasher(as_written).transform(["Never neg_good, never bad ΟΧΙ neg_καλό"])
    assert same(got[:, PLAIN.n_features :], expected)


def test_the_marking_settings_cannot_change_once_made() -> None:
    marking = NegationMarking(window=2, negators=("not",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        marking.window = 5  # type: ignore[misc]
    assert marking.window == 2
    assert hash(marking) == hash(NegationMarking(window=2, negators=("not",)))


def test_by_default_the_three_words_after_a_negator_are_marked() -> None:
    hasher = NgramHasher(BLOCK, negation=NegationMarking())
    got = hasher.transform(["not a bad film at all"])
    expected = PLAIN.transform(["not neg_a neg_bad neg_film at all"])
    assert same(got[:, PLAIN.n_features :], expected)


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


def test_aggregates_of_sentence_scores() -> None:
    got = aggregates(np.array([1.0, -2.0]), np.array([1.0, -1.0, 3.0, -2.0]), np.array([3, 1]))
    expected = [[1.0, 1.0, 3.0, -1.0, 1.0, 3.0, 2 / 3, np.log(3)], [-2.0] * 6 + [0.0, 0.0]]
    np.testing.assert_allclose(got, expected)


# -- sentences scored from their review's n-grams (one hashing pass) ---------------------------

# Pieces around sentence ends: the sentence splitter's ends, near misses ("<BR />", "e.g.x"),
# negators just before an end, the final sigma and characters that lowercase to two.
SENTENCE_PIECES = [
    *PIECES, ". ", "! ", "? ", "<br />", "<br>", "<br/>", "<br\n/>", "<BR />", "<br />not",
    "not.", "not!", "no?", "e.g.x", "...", "ΑΣ", "Σ", "ΣΑ.", "İ", "İstanbul", "ß", "\t", "\u2028",
    "nobody", "'",
]  # fmt: skip
sentence_texts = st.lists(
    st.tuples(st.sampled_from(SENTENCE_PIECES), st.sampled_from([" ", "", "  ", "\n"])),
    max_size=50,
).map(lambda parts: "".join(p + sep for p, sep in parts))
SPAN_HASHERS = [
    PLAIN,
    MARKING,
    NgramHasher(dataclasses.replace(BLOCK, ngram_range=(2, 4)), NegationMarking(window=2)),
    NgramHasher(dataclasses.replace(BLOCK, stop_words=None), NegationMarking(window=1)),
    NgramHasher(dataclasses.replace(BLOCK, token_pattern=SKLEARN_DEFAULT, binary=False)),
    NgramHasher(dataclasses.replace(BLOCK, lowercase=False), NegationMarking(window=3)),
    NgramHasher(dataclasses.replace(BLOCK, norm="l2", binary=False), NegationMarking()),
]


@given(st.one_of(sentence_texts, st.text(max_size=200)))
def test_sentences_are_the_pieces_of_the_text_that_hold_a_word(text: str) -> None:
    spans = sentence_spans(text)
    assert spans
    assert split_sentences(text) == [text[start:end] for start, end in spans]
    assert all(0 <= start < end <= len(text) for start, end in spans) or spans == [(0, 0)]
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    # Between and around the sentences: breaks, spaces and pieces without a word, nothing more.
    # A text whose only word characters are in its breaks falls back to one sentence, itself.
    gaps = [
        text[end:start]
        for end, start in zip(
            [0] + [e for _, e in spans], [s for s, _ in spans] + [len(text)], strict=True
        )
    ]
    if re.search(r"\w", re.sub(r"<br\s*/?>", "", text)):
        assert all(re.search(r"\w", text[start:end]) for start, end in spans)
        assert not any(re.search(r"\w", re.sub(r"<br\s*/?>", "", gap)) for gap in gaps)
    else:
        assert spans == [(0, len(text))]


def sentences_hashed_alone(hasher: NgramHasher, texts: list[str]) -> tuple[Any, ...]:
    """The old computation: every sentence cut out and hashed as a text of its own."""
    sentences = [sentence for text in texts for sentence in split_sentences(text)]
    return hasher.arrays(sentences)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(sentence_texts, st.text(max_size=80)), min_size=1, max_size=6))
@example(["Not good.<br />Really! no way", "not<br />good", "x\x00not good. bad"])
@example(["ΑΣ ΣΑ. Σ<br>Σ", "İstanbul isn't bad! great?  nope", "!!!", "", "a<br/>b"])
@example(["No. <BR />good br not br good", "3.5 stars, e.g.this", "not\u2028good"])
def test_a_sentence_row_equals_the_sentence_hashed_alone(texts: list[str]) -> None:
    spans = [sentence_spans(text) for text in texts]
    for hasher in SPAN_HASHERS:
        assert hasher.exact_spans
        whole, parts = hasher.arrays_with_spans(texts, spans)
        for got, expected in zip(whole, hasher.arrays(texts), strict=True):
            assert got.tolist() == expected.tolist()
        for got, expected in zip(parts, sentences_hashed_alone(hasher, texts), strict=True):
            assert got.tolist() == expected.tolist()
        if hasher.binary_unnormalized:
            assert pairs_of_one_sort(hasher, texts, spans) == (csr_pairs(whole), csr_pairs(parts))


def csr_pairs(matrix: tuple[Any, Any, Any]) -> list[tuple[int, int]]:
    _, indices, indptr = matrix
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    return list(zip(rows.tolist(), indices.tolist(), strict=True))


def pairs_of_one_sort(
    hasher: NgramHasher, texts: list[str], spans: list[list[tuple[int, int]]]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """`pairs_with_spans`, checked for its documented order, with the span pairs in CSR order."""
    (rows, columns), (span_rows, span_columns) = hasher.pairs_with_spans(texts, spans)
    whole = list(zip(rows.tolist(), columns.tolist(), strict=True))
    in_spans = list(zip(span_rows.tolist(), span_columns.tolist(), strict=True))
    assert whole == sorted(whole)  # CSR order
    for span in set(span_rows.tolist()):  # each span's columns ascending
        assert np.all(np.diff(span_columns[span_rows == span]) > 0)
    return whole, sorted(in_spans)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(sentence_texts, st.text(max_size=80)), min_size=1, max_size=8))
def test_the_aggregates_equal_those_of_sentences_hashed_alone(texts: list[str]) -> None:
    rng = np.random.default_rng(len(texts))
    coef = rng.normal(size=(MARKING.n_columns, 2)).astype(np.float32)
    intercept = np.array([0.25, -0.5])
    model_of = rng.integers(0, 2, size=len(texts))
    sentences = [split_sentences(text) for text in texts]
    counts = np.array([len(s) for s in sentences])
    review = linear_scores(MARKING, texts, coef, intercept)[np.arange(len(texts)), model_of]
    flat = [sentence for text_sentences in sentences for sentence in text_sentences]
    sentence = linear_scores(MARKING, flat, coef, intercept)[
        np.arange(len(flat)), np.repeat(model_of, counts)
    ]
    expected = aggregates(review, sentence, counts)
    got = features(MARKING, texts, coef, intercept, model_of)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_scopes_that_could_cross_a_sentence_end_hash_the_sentences_again() -> None:
    # Without "!" as a token, "not good! great" is one scope in the review but two sentences.
    no_marks = dataclasses.replace(BLOCK, token_pattern=SKLEARN_DEFAULT)
    assert not NgramHasher(no_marks, NegationMarking()).exact_spans
    assert NgramHasher(no_marks).exact_spans
    # "br" of "<br />" after the scope end "<": a negator only when it is no stop word.
    br = NegationMarking(negators=("br", "not"))
    assert NgramHasher(BLOCK, br).exact_spans
    assert not NgramHasher(dataclasses.replace(BLOCK, stop_words=None), br).exact_spans
    # Nor when "!" or "?" is a stop word: dropped before marking, it ends no scope.
    for mark in ("!", "?"):
        dropped = dataclasses.replace(BLOCK, stop_words=("br", mark))
        assert not NgramHasher(dropped, NegationMarking()).exact_spans
        assert NgramHasher(dropped).exact_spans
    # Such a hasher still scores like the sentences hashed alone.
    dropped = dataclasses.replace(BLOCK, stop_words=("br", "!"))
    for settings_ in (no_marks, dropped):
        hasher = NgramHasher(settings_, NegationMarking())
        texts = ["It is not good! great fun", "not<br />good"]
        coef = np.arange(hasher.n_columns, dtype=np.float32).reshape(-1, 1) % 7 - 3
        got = features(hasher, texts, coef, np.zeros(1))
        sentences = [s for t in texts for s in split_sentences(t)]
        review = linear_scores(hasher, texts, coef, np.zeros(1))[:, 0]
        sentence = linear_scores(hasher, sentences, coef, np.zeros(1))[:, 0]
        np.testing.assert_allclose(got, aggregates(review, sentence, np.array([2, 2])))


def test_spans_must_be_ordered_and_inside_their_text() -> None:
    # (the third span overlaps the second, not the first)
    for bad in ([[(3, 5), (0, 2)]], [[(0, 40)]], [[(-1, 2)]], [[(0, 2), (4, 9), (6, 8)]]):
        with pytest.raises(ValueError, match="span"):
            MARKING.arrays_with_spans(["not good at all"], bad)
    with pytest.raises(ValueError, match="span lists"):
        MARKING.arrays_with_spans(["a", "b"], [[(0, 1)]])
    _, parts = MARKING.arrays_with_spans(["not good at all", "x"], [[(0, 8), (9, 15)], []])
    assert parts[2].tolist()[-1] == len(parts[1])
    assert parts[2].size == 3
    for bad in ([[(3, 5), (0, 2)]], [[(0, 40)]], [[(-1, 2)]]):
        with pytest.raises(ValueError, match="span"):
            MARKING.pairs_with_spans(["not good at all"], bad)
    with pytest.raises(ValueError, match="span lists"):
        MARKING.pairs_with_spans(["a", "b"], [[(0, 1)]])
    with pytest.raises(ValueError, match="binary"):
        SPAN_HASHERS[-1].pairs_with_spans(["a"], [[(0, 1)]])
    _, (span_rows, _) = MARKING.pairs_with_spans(["not good at all", "x"], [[(0, 8), (9, 15)], []])
    assert set(span_rows.tolist()) == {0, 1}


@pytest.mark.parametrize("text", ["not good at all", "İs it not good at all"])
@pytest.mark.parametrize(
    "bad",
    [
        [(0, 3), (-4, -1)],  # a later span before the text's start (read from its end)
        [(0, 3), (40, 50)],  # a later span past the text's end
        [(0, 3), (50, 9)],  # one that ends before it starts, past the text's end
        [(0, 3), (5, 4), (6, 9)],  # one that ends before it starts, inside the text
    ],
)
def test_every_span_is_checked_whatever_lowercasing_does_to_the_text(
    text: str, bad: list[tuple[int, int]]
) -> None:
    # "İ" lowercases to two characters: the spans are then mapped character by character, and
    # were checked only by their first start and last end (a span (-4, -1) was read as the
    # text's last characters, one starting past the end raised an IndexError).
    for hasher in (PLAIN, MARKING):
        with pytest.raises(ValueError, match="span"):
            hasher.arrays_with_spans([text, "x"], [[(0, 1)], bad])
        with pytest.raises(ValueError, match="span"):
            hasher.pairs_with_spans([text], [bad])


def test_pairs_of_many_chunks_and_spans_count_rows_across_chunks() -> None:
    texts = [f"not good. film {i} was great! {'ok ' * (i % 7)}" for i in range(600)]
    spans = [sentence_spans(text) for text in texts]
    whole, parts = MARKING.arrays_with_spans(texts, spans)
    assert pairs_of_one_sort(MARKING, texts, spans) == (csr_pairs(whole), csr_pairs(parts))


def test_pairs_for_any_number_of_columns_one_text_and_no_ngram() -> None:
    # Columns 0..n_features-1 take (n_features - 1).bit_length() bits of the sort key: 2 bits
    # for 3 or 4 columns, 3 for 5; one text alone has no text number to sort by.
    batches = [["not good. a bad film! ok", "", "good. not bad at all"], ["not good. bad"]]
    for n_features, texts in itertools.product((3, 4, 5), batches):
        hasher = NgramHasher(dataclasses.replace(BLOCK, n_features=n_features))
        spans = [sentence_spans(text) for text in texts]
        whole, parts = hasher.arrays_with_spans(texts, spans)
        assert csr_pairs(whole)
        assert csr_pairs(parts)
        assert pairs_of_one_sort(hasher, texts, spans) == (csr_pairs(whole), csr_pairs(parts))
    # Texts without a single n-gram: no pairs at all.
    for texts in (["", "..."], ["<br />"]):
        ((rows, columns), (span_rows, span_columns)) = PLAIN.pairs_with_spans(
            texts, [[(0, len(text))] for text in texts]
        )
        assert rows.size == columns.size == span_rows.size == span_columns.size == 0
