"""NgramHasher gives exactly the matrix HashingVectorizer.transform gives, for every text."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from sentiment.adapters import text_hashing
from sentiment.adapters.byte_tokens import SKLEARN_DEFAULT, WORDS_AND_MARKS
from sentiment.adapters.negation import SCOPE_ENDS, NegationMarking
from sentiment.adapters.text_hashing import (
    HashingSettings,
    NgramHasher,
    hasher_for,
    normalize_rows,
)
from tests.conftest import sample_frame


def vectorizer(**overrides: Any) -> HashingVectorizer:
    settings: dict[str, Any] = {
        "token_pattern": WORDS_AND_MARKS,
        "stop_words": ["br"],
        "ngram_range": (1, 3),
        "n_features": 2**22,
        "alternate_sign": False,
        "binary": True,
        "norm": None,
        "dtype": np.float32,
    }
    return HashingVectorizer(**{**settings, **overrides})


def assert_same_matrix(v: HashingVectorizer, texts: list[str]) -> None:
    expected = sp.csr_matrix(v.transform(texts))
    hasher = hasher_for(v)
    assert hasher is not None
    got = hasher.transform(texts)
    assert isinstance(got, sp.csr_matrix)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    assert got.has_canonical_format
    expected.sort_indices()
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


@pytest.fixture(scope="module")
def reviews(shared_frame: pd.DataFrame) -> list[str]:
    """300 real reviews, with their <br />, punctuation, non-ASCII letters and long tokens."""
    return [str(t) for t in sample_frame(shared_frame, 300, seed=3)["text"].tolist()]


SETTINGS = [
    {},
    {"ngram_range": (1, 1)},
    {"ngram_range": (1, 2), "binary": False},
    {"ngram_range": (2, 3)},
    {"ngram_range": (1, 4), "n_features": 2**10},  # many collisions
    {"binary": False, "norm": "l2"},
    {"norm": "l1", "dtype": np.float64},
    {"token_pattern": SKLEARN_DEFAULT, "stop_words": None},
    {"lowercase": False, "stop_words": ["br", "the", "été"]},
    {"n_features": 2**31},  # the most columns: abs(-2**31) % 2**31 still fits in int32
    {"n_features": 1},  # the fewest: every n-gram in column 0
]


@pytest.mark.parametrize("overrides", SETTINGS, ids=[str(s) or "default" for s in SETTINGS])
def test_real_reviews_give_the_same_matrix(reviews: list[str], overrides: dict[str, Any]) -> None:
    assert_same_matrix(vectorizer(**overrides), reviews)


def test_each_review_alone_gives_its_row_of_the_batch(reviews: list[str]) -> None:
    hasher = NgramHasher(vectorizer())
    batch = hasher.transform(reviews[:20])
    for i, text in enumerate(reviews[:20]):
        alone = hasher.transform([text])
        np.testing.assert_array_equal(alone.indices, batch[i].indices)
        np.testing.assert_array_equal(alone.data, batch[i].data)
        columns, values = hasher.one(text)
        np.testing.assert_array_equal(columns, batch[i].indices)
        np.testing.assert_array_equal(values, batch[i].data)


def test_batches_larger_than_a_chunk(reviews: list[str]) -> None:
    texts = [f"{r} {i}" for i, r in enumerate(reviews * 4)][: text_hashing._BATCH * 2 + 7]
    assert_same_matrix(vectorizer(ngram_range=(1, 2)), texts)


@pytest.mark.parametrize("ngram_range", [(1, 5), (3, 4)])
def test_texts_with_fewer_tokens_than_the_longest_ngrams(ngram_range: tuple[int, int]) -> None:
    # Alone, as the serving path hashes one review, and in a batch.
    texts = ["", "good", "not good", "a fine film", "one more fine film"]
    v = vectorizer(ngram_range=ngram_range)
    assert_same_matrix(v, texts)
    for text in texts:
        assert_same_matrix(v, [text])
        expected = sp.csr_matrix(v.transform([text]))
        expected.sort_indices()
        columns, values = NgramHasher(v).one(text)
        assert columns.tolist() == expected.indices.tolist()
        assert values.tolist() == expected.data.tolist()


# Letters, digits, marks, separators and characters that lowercase or encode unusually: final
# sigma, dotted capital I (lowercases to two code points), combining marks, CJK, emoji, NUL.
ALPHABET = st.sampled_from(
    [*"aZb r_9!?.,'-", " ", "\n", "\t", "\x00", "Σ", "ς", "İ", "é", "\u0301", "ß", "中", "😀"]
)
TEXTS = st.lists(st.text(ALPHABET, max_size=40), min_size=1, max_size=6)


@settings(max_examples=300)
@given(texts=TEXTS)
@example(texts=["ΟΔΟΣ Σ ΣΑ", "İİ"])
@example(texts=["br br!! br", "", "!?!"])
@example(texts=["a\x00b", "c"])
@example(texts=["a" * 400 + " b " + "c" * 90, "x"])
def test_any_text_gives_the_same_matrix(texts: list[str]) -> None:
    for overrides in ({}, {"token_pattern": SKLEARN_DEFAULT}, {"binary": False, "norm": "l2"}):
        assert_same_matrix(vectorizer(**overrides), texts)


@pytest.mark.parametrize(
    "overrides",
    [
        {"analyzer": "char_wb"},
        {"preprocessor": str.lower},
        {"alternate_sign": True},
        {"stop_words": "english"},
        {"token_pattern": r"(?u)\b\w[\w']+\b"},
        {"strip_accents": "unicode"},
    ],
)
def test_other_settings_are_left_to_scikit_learn(overrides: dict[str, Any]) -> None:
    assert hasher_for(vectorizer(**overrides)) is None
    with pytest.raises(ValueError, match="not reproduced"):
        NgramHasher(vectorizer(**overrides))
    with pytest.raises(ValueError, match="not reproduced"):  # nor carried to a model file
        HashingSettings.of(vectorizer(**overrides))


def test_refusals_match_scikit_learn() -> None:
    hasher = NgramHasher(vectorizer())
    with pytest.raises(ValueError, match="empty sequence"):
        hasher.transform([])
    with pytest.raises(TypeError, match="str"):
        hasher.transform(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="norm=None"):
        NgramHasher(vectorizer(norm="l2")).one("text")
    # One string is a sequence of its characters, each of which would be a row.
    with pytest.raises(ValueError, match="string object received"):
        vectorizer().transform("a good film")
    for method in (hasher.transform, hasher.arrays, hasher.token_ngrams):
        with pytest.raises(ValueError, match="string object received"):
            method("a good film")
    for with_spans in (hasher.arrays_with_spans, hasher.pairs_with_spans):
        with pytest.raises(ValueError, match="string object received"):
            with_spans("ab", [[(0, 1)], [(0, 1)]])


@settings(max_examples=200)
@given(
    rows=st.lists(st.lists(st.floats(0, 1e4, width=32), max_size=12), min_size=1, max_size=8),
    norm=st.sampled_from(["l1", "l2"]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
@example(rows=[[1.0, 1.0, 1.0], [], [0.0], [2.0, 3.0]], norm="l2", dtype=np.float32)
@example(rows=[[0.1, 0.7, 2.9]], norm="l1", dtype=np.float32)
# Squares below float32's range: the row's norm is 0, so it stays as it is (as in scikit-learn).
@example(rows=[[1e-30, 0.0, 2e-25], [3.0]], norm="l2", dtype=np.float32)
def test_rows_are_normalised_to_the_bit_as_scikit_learn_normalises_them(
    rows: list[list[float]], norm: str, dtype: type[np.floating[Any]]
) -> None:
    # The served TF-IDF and normalised hashing rows: the very numbers the pipeline computes.
    indptr = np.cumsum([0, *(len(r) for r in rows)])
    data = np.array([v for r in rows for v in r], dtype=dtype)
    indices = np.concatenate([np.arange(len(r)) for r in rows]).astype(np.int32)
    x = sp.csr_matrix((data.copy(), indices, indptr), shape=(len(rows), 12))
    expected = normalize(x, norm=norm).data
    normalize_rows(data, indptr, norm)
    assert data.dtype == dtype
    assert data.tolist() == expected.tolist()


def test_an_unknown_norm_is_refused_before_any_value_changes() -> None:
    data = np.array([3.0, 4.0], dtype=np.float32)
    with pytest.raises(ValueError, match="unknown norm 'max'"):
        normalize_rows(data, np.array([0, 2]), "max")
    assert data.tolist() == [3.0, 4.0]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"token_pattern": SKLEARN_DEFAULT, "stop_words": None},
        {"binary": False, "norm": "l1"},
        {"binary": False, "norm": "l2"},
    ],
)
def test_settings_carry_a_vectorizer_without_scikit_learn(
    overrides: dict[str, Any], reviews: list[str]
) -> None:
    v = vectorizer(**overrides)
    settings = HashingSettings.of(v)
    again = HashingSettings.from_json(json.loads(json.dumps(settings.to_json())))
    assert again == settings
    expected = NgramHasher(v).transform(reviews[:50])
    data, indices, indptr = NgramHasher(again).arrays(reviews[:50])
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(data, expected.data)


@pytest.mark.parametrize(
    "change",
    [
        {"token_pattern": r"(\w+)"},
        {"ngram_range": [2, 1]},
        {"n_features": 0},
        {"n_features": 2**31 + 1},  # a column of 2**31 would not fit in int32
        {"alternate_sign": True},
        {"dtype": "int64"},
        {"norm": "max"},
        {"extra": 1},
    ],
)
def test_settings_that_no_hasher_reproduces_are_refused(change: dict[str, Any]) -> None:
    data = {**HashingSettings.of(vectorizer()).to_json(), **change}
    with pytest.raises(ValueError, match=r"not reproduced|exactly the keys"):
        HashingSettings.from_json(data)


@pytest.mark.parametrize(
    "change",
    [{"n_features": "many"}, {"ngram_range": [1]}, {"dtype": "no such type"}, {"stop_words": 3}],
)
def test_malformed_settings_are_refused(change: dict[str, Any]) -> None:
    data = {**HashingSettings.of(vectorizer()).to_json(), **change}
    with pytest.raises(ValueError, match="malformed hashing settings"):
        HashingSettings.from_json(data)


def expected_token_ngrams(v: HashingVectorizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """`token_ngrams` from scikit-learn's own tokens, each n-gram string hashed by scikit-learn."""
    unigrams = HashingVectorizer(**{**v.get_params(), "ngram_range": (1, 1)}).build_analyzer()
    one_feature = HashingVectorizer(
        analyzer=lambda s: [s], n_features=v.n_features, alternate_sign=False
    )
    docs: list[int] = []
    strings: list[str] = []
    where: list[tuple[int, int]] = []
    longest = v.ngram_range[1]
    for d, text in enumerate(texts):
        tokens = unigrams(text)
        for t in range(len(tokens)):
            for n in range(v.ngram_range[0], longest + 1):
                if t - n + 1 >= 0:
                    where.append((n - 1, len(docs)))
                    strings.append(" ".join(tokens[t - n + 1 : t + 1]))
            docs.append(d)
    grams = np.full((longest, len(docs)), -1, dtype=np.int64)
    if strings:
        columns = one_feature.transform(strings).tocoo()
        rows, cols = np.array(where).T
        grams[rows[columns.row], cols[columns.row]] = columns.col
    return np.array(docs, dtype=np.int64), grams


@pytest.mark.parametrize("overrides", [{}, {"ngram_range": (2, 3)}, {"n_features": 2**30}])
def test_token_ngrams_are_the_ngrams_ending_at_each_token(
    reviews: list[str], overrides: dict[str, Any]
) -> None:
    v = vectorizer(**overrides)
    docs, grams = NgramHasher(v).token_ngrams(reviews[:60])
    want_docs, want_grams = expected_token_ngrams(v, reviews[:60])
    np.testing.assert_array_equal(docs, want_docs)
    np.testing.assert_array_equal(grams, want_grams)


@settings(max_examples=150)
@given(texts=TEXTS)
def test_token_ngrams_of_any_text(texts: list[str]) -> None:
    v = vectorizer(n_features=2**30)
    docs, grams = NgramHasher(v).token_ngrams(texts)
    want_docs, want_grams = expected_token_ngrams(v, texts)
    np.testing.assert_array_equal(docs, want_docs)
    np.testing.assert_array_equal(grams, want_grams)


def test_token_ngrams_of_more_texts_than_one_chunk() -> None:
    # 600 texts, some without a token: the hasher's chunks of texts must follow on, in the
    # texts' numbers and in the n-grams' order.
    texts = [f"film {i} was {'not ' * (i % 3)}good! {'ok ' * (i % 5)}" for i in range(600)]
    texts[249:252] = ["", "...", "x"]
    v = vectorizer(ngram_range=(1, 2))
    docs, grams = NgramHasher(v).token_ngrams(texts)
    want_docs, want_grams = expected_token_ngrams(v, texts)
    np.testing.assert_array_equal(docs, want_docs)
    np.testing.assert_array_equal(grams, want_grams)


def test_token_ngrams_refuse_what_transform_refuses() -> None:
    hasher = NgramHasher(vectorizer())
    with pytest.raises(ValueError, match="string object received"):
        hasher.token_ngrams("not good")  # a string is a sequence of its characters too
    with pytest.raises(ValueError, match="empty sequence"):
        hasher.token_ngrams([])


def test_token_ngrams_refuse_negation_marking() -> None:
    with pytest.raises(ValueError, match="negation"):
        NgramHasher(vectorizer(), negation=NegationMarking(3, ("not",))).token_ngrams(["not good"])


def expected_span_rows(
    v: HashingVectorizer,
    texts: list[str],
    spans: list[list[tuple[int, int]]],
    negation: NegationMarking | None = None,
) -> sp.csr_matrix:
    """The rows of `arrays_with_spans`' spans, from scikit-learn's own tokens: each n-gram
    whose first token starts and last token ends inside the span (character offsets into the
    text), hashed by scikit-learn. With `negation`, also the n-grams of the marked stream (the
    tokens after a negator, up to a scope end, read as `neg_<word>`) in the second block."""
    one_feature = HashingVectorizer(
        analyzer=lambda s: [s], n_features=v.n_features, alternate_sign=False
    )
    pattern = re.compile(v.token_pattern)
    ends = re.compile("[" + re.escape(SCOPE_ENDS + "\x00") + "]")
    stop = set(v.stop_words or ())
    rows: list[list[tuple[str, int]]] = []  # (n-gram, block) of every span
    for text, text_spans in zip(texts, spans, strict=True):
        lowered = text.lower() if v.lowercase else text
        # (start, end) in `lowered`, plain and marked text of every kept token, in order
        kept: list[tuple[int, int, str, str]] = []
        left = 0
        scope_ends = [m.start() for m in ends.finditer(lowered)]
        previous_end = 0
        for m in pattern.finditer(lowered):
            if any(previous_end <= e < m.start() for e in scope_ends) or m.group() in "!?":
                left = 0
            previous_end = m.end()
            if m.group() in stop:
                continue
            marked = "neg_" + m.group() if left and m.group() not in "!?" else m.group()
            kept.append((m.start(), m.end(), m.group(), marked))
            left = max(left - 1, 0)
            if negation is not None and m.group() in negation.negators:
                left = negation.window
        for s, e in text_spans:
            low_s, low_e = len(text[:s].lower()), len(text[:e].lower())
            if not v.lowercase:
                low_s, low_e = s, e
            row: list[tuple[str, int]] = []
            for n in range(v.ngram_range[0], v.ngram_range[1] + 1):
                for i in range(len(kept) - n + 1):
                    gram = kept[i : i + n]
                    if low_s <= gram[0][0] and gram[-1][1] <= low_e:
                        row.append((" ".join(t[2] for t in gram), 0))
                        if negation is not None:
                            row.append((" ".join(t[3] for t in gram), 1))
            rows.append(row)
    n_columns = v.n_features * (1 if negation is None else 2)
    counts: dict[tuple[int, int], float] = {}
    for r, row in enumerate(rows):
        for ngram, block in row:
            column = int(one_feature.transform([ngram]).indices[0]) + block * v.n_features
            counts[r, column] = 1.0 if v.binary else counts.get((r, column), 0.0) + 1.0
    matrix = sp.csr_matrix(
        (
            list(counts.values()),
            ([r for r, _ in counts], [c for _, c in counts]),
        ),
        shape=(len(rows), n_columns),
        dtype=v.dtype,
    )
    matrix.sort_indices()
    if v.norm is None or not rows:  # (normalize refuses a matrix of no rows)
        return matrix
    return sp.csr_matrix(normalize(matrix, norm=v.norm))


@st.composite
def texts_and_spans(draw: st.DrawFn) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Texts, and for each ordered, disjoint spans cut anywhere (inside tokens too), empty
    ones included."""
    one_text = st.lists(SPAN_PIECES, max_size=30).map("".join)
    texts = draw(st.lists(one_text, min_size=1, max_size=5))
    spans: list[list[tuple[int, int]]] = []
    for text in texts:
        cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=8)))
        spans.append(list(zip(cuts[::2], cuts[1::2], strict=False)))
    return texts, spans


SPAN_PIECES = st.sampled_from(
    [*"aZb r_9!?.,'<-", " ", "\n", "\x00", "Σ", "İ", "é", "ß", "😀", "not ", "Not ", "t "]
)


@settings(max_examples=200, deadline=None)
@given(texts_and_spans())
@example((["İİ not good film", "x İ y"], [[(0, 2), (3, 16)], [(0, 5)]]))
@example((["good film. not bad at all"], [[(0, 1), (1, 9), (9, 25)]]))
@example((["a\x00b not c", "Σ d"], [[(0, 3), (4, 9)], [(0, 3)]]))
def test_a_span_row_holds_the_ngrams_wholly_inside_the_span(
    case: tuple[list[str], list[list[tuple[int, int]]]],
) -> None:
    texts, spans = case
    negation = NegationMarking(window=2, negators=("not", "t", "film"))
    for overrides, marking in (
        ({}, None),
        ({}, negation),
        ({"ngram_range": (2, 3), "binary": False, "norm": "l2"}, None),
        ({"token_pattern": SKLEARN_DEFAULT, "stop_words": None, "ngram_range": (1, 2)}, None),
        ({"lowercase": False, "binary": False}, negation),
    ):
        v = vectorizer(n_features=2**20, **overrides)
        expected = expected_span_rows(v, texts, spans, marking)
        hasher = NgramHasher(v, marking)
        _, (data, indices, indptr) = hasher.arrays_with_spans(texts, spans)
        assert indptr.tolist() == expected.indptr.tolist()
        assert indices.tolist() == expected.indices.tolist()
        np.testing.assert_array_equal(data, expected.data)
        if hasher.binary_unnormalized:
            _, (span_rows, span_columns) = hasher.pairs_with_spans(texts, spans)
            pairs = sorted(zip(span_rows.tolist(), span_columns.tolist(), strict=True))
            rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            assert pairs == list(zip(rows.tolist(), indices.tolist(), strict=True))
