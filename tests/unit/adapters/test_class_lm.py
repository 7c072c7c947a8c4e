"""Class language models over hashed n-grams give what the formulas give on the words themselves."""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment.adapters.byte_tokens import WORDS_AND_MARKS
from sentiment.adapters.class_lm import ClassLanguageModel, LanguageModelTables, fit_tables
from sentiment.adapters.text_hashing import HashingSettings, NgramHasher

SETTINGS = HashingSettings(
    token_pattern=WORDS_AND_MARKS,
    ngram_range=(1, 3),
    n_features=2**30,
    stop_words=("br",),
    binary=True,
)
HASHER = NgramHasher(SETTINGS)
TOKEN = re.compile(WORDS_AND_MARKS)
D = 0.75


def words(text: str) -> list[str]:
    return [w for w in TOKEN.findall(text.lower()) if w != "br"]


class Reference:
    """The module docstring's formulas on word tuples, one dictionary per class and order."""

    def __init__(self, texts: list[str], second: list[bool], order: int, min_count: int):
        self.order, self.min_count = order, min_count
        self.counts = [[Counter[tuple[str, ...]]() for _ in range(order + 1)] for _ in range(2)]
        vocabulary: set[str] = set()
        for text, is_second in zip(texts, second, strict=True):
            w = words(text)
            vocabulary.update(w)
            for n in range(1, order + 1):
                for i in range(n - 1, len(w)):
                    self.counts[int(is_second)][n][tuple(w[i - n + 1 : i + 1])] += 1
        self.size = len(vocabulary) + 1
        self.tokens = [sum(self.counts[k][1].values()) for k in range(2)]
        self.history = [
            [defaultdict[tuple[str, ...], int](int) for _ in range(order + 1)] for _ in range(2)
        ]
        self.followers = [
            [defaultdict[tuple[str, ...], int](int) for _ in range(order + 1)] for _ in range(2)
        ]
        for k in range(2):
            for n in range(2, order + 1):
                for gram, count in self.counts[k][n].items():
                    self.history[k][n][gram[:-1]] += count
                    self.followers[k][n][gram[:-1]] += 1

    def p(self, k: int, w: list[str]) -> float:
        """p_k of the last word of `w` after the ones before it."""
        p = (self.counts[k][1][(w[-1],)] + 1) / (self.tokens[k] + self.size)
        for n in range(2, min(self.order, len(w)) + 1):
            gram = tuple(w[-n:])
            ch = self.history[k][n].get(gram[:-1], 0)
            both = ch + self.history[1 - k][n].get(gram[:-1], 0)
            if ch == 0 or both < self.min_count:
                continue  # not a kept history: the shorter one's probability
            c = self.counts[k][n][gram]
            c = c if c + self.counts[1 - k][n][gram] >= self.min_count else 0
            p = max(c - D, 0) / ch + D * self.followers[k][n][gram[:-1]] / ch * p
        return p

    def ratio(self, text: str) -> float:
        w = words(text)
        return sum(
            math.log(self.p(1, w[: i + 1])) - math.log(self.p(0, w[: i + 1])) for i in range(len(w))
        )


TRAINING = [
    "A great film, truly great! I loved the acting and the story.",
    "Not great at all. The acting was awful and the story made no sense.",
    "What a wonderful, moving story. Great acting, great music!",
    "Awful. Boring story, awful acting, and the music was loud.",
    "I loved it: the best film of the year, and the acting was wonderful.",
    "The worst film of the year. I hated the story and the acting.",
    "great great great",
    "<br />Boring boring<br /> boring?",
]
SECOND = [True, False, True, False, True, False, True, False]
SCORED = [
    "The acting was great and the story was wonderful!",
    "the story was awful, the acting boring",
    "an unseen word: zyzzyva",
    "",
    "great",
    "the acting and the story",
]


def fitted(order: int, min_count: int, second: list[bool] = SECOND) -> ClassLanguageModel:
    docs, grams = HASHER.token_ngrams(TRAINING)
    return ClassLanguageModel(fit_tables(docs, grams, np.array(second), order, min_count, D))


def scores(model: ClassLanguageModel, texts: list[str]) -> np.ndarray:
    docs, grams = HASHER.token_ngrams(texts)
    return model.scores(docs, grams, model.rows(grams), len(texts))


def test_the_corpus_has_no_hash_collisions() -> None:
    # The comparison below needs one column per distinct n-gram.
    for n in (1, 2, 3):
        grams = {
            tuple(w[i - n + 1 : i + 1])
            for t in TRAINING
            for w in [words(t)]
            for i in range(n - 1, len(w))
        }
        _, columns = HASHER.token_ngrams([" ".join(g) for g in grams])
        assert len(set(columns[n - 1][columns[n - 1] >= 0].tolist())) == len(grams)


@pytest.mark.parametrize(("order", "min_count"), [(1, 1), (2, 1), (3, 1), (3, 2), (2, 3)])
def test_ratios_equal_the_formulas(order: int, min_count: int) -> None:
    reference = Reference(TRAINING, SECOND, order, min_count)
    expected = [reference.ratio(text) for text in SCORED]
    np.testing.assert_allclose(
        scores(fitted(order, min_count), SCORED), expected, rtol=1e-5, atol=1e-5
    )


def test_an_n_gram_hashed_to_column_0_is_counted() -> None:
    small = NgramHasher(dataclasses.replace(SETTINGS, n_features=2**8))
    texts = ["bad fun, bad fun!", "fun bad", "bad fun bad", "good fun"]
    second = [True, False, True, False]
    grams = {
        tuple(w[i - n + 1 : i + 1])
        for t in texts
        for w in [words(t)]
        for n in (1, 2)
        for i in range(n - 1, len(w))
    }
    columns = {g: int(small.token_ngrams([" ".join(g)])[1][len(g) - 1][-1]) for g in grams}
    assert columns[("bad", "fun")] == 0
    assert len(set(columns.values())) == len(grams)  # no collision
    docs, hashed = small.token_ngrams(texts)
    model = ClassLanguageModel(fit_tables(docs, hashed, np.array(second), 2, 1, D))
    scored = ["bad fun", "fun bad fun", "good"]
    docs, hashed = small.token_ngrams(scored)
    got = model.scores(docs, hashed, model.rows(hashed), len(scored))
    reference = Reference(texts, second, 2, 1)
    np.testing.assert_allclose(got, [reference.ratio(t) for t in scored], rtol=1e-6)


def test_the_evidence_points_the_right_way() -> None:
    got = scores(fitted(3, 1), SCORED)
    assert got[0] > 0 > got[1]
    assert got[3] == 0.0  # no tokens


def test_swapping_the_classes_negates_the_ratio() -> None:
    swapped = [not s for s in SECOND]
    np.testing.assert_allclose(
        scores(fitted(3, 1, swapped), SCORED), -scores(fitted(3, 1), SCORED), rtol=1e-5, atol=1e-5
    )


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from(["great", "awful", "the", "story", "!", "zyzzyva", "."]), max_size=30)
)
def test_a_text_scores_alone_as_in_a_batch(tokens: list[str]) -> None:
    model = fitted(3, 1)
    text = " ".join(tokens)
    batch = scores(model, [SCORED[0], text, SCORED[1]])
    assert scores(model, [text])[0] == pytest.approx(batch[1], rel=1e-12, abs=1e-12)


def test_pruning_keeps_fewer_entries() -> None:
    docs, grams = HASHER.token_ngrams(TRAINING)
    sizes = [fit_tables(docs, grams, np.array(SECOND), 3, m, D).n_entries for m in (1, 2, 3)]
    assert sizes[0] > sizes[1] > sizes[2]


def rebuilt(tables: LanguageModelTables, **changes: object) -> LanguageModelTables:
    """The tables with some fields replaced, through the constructor (and its checks)."""
    fields = {
        "columns": tables.columns,
        "counts": tables.counts,
        "histories": tables.histories,
        "tokens": tables.tokens,
        "vocabulary": tables.vocabulary,
        "discount": tables.discount,
    }
    return LanguageModelTables(**{**fields, **changes})  # type: ignore[arg-type]


MALFORMED: dict[str, object] = {
    "no_order": {"columns": (), "counts": (), "histories": ()},
    "unsorted": "columns",
    "repeated_column": "columns",
    "negative_column": "columns",
    "int64": "columns",
    "2d_columns": "columns",
    "a_count_array_short": "counts",
    "counts_shape": "counts",
    "float_counts": "counts",
    "histories": {"histories": ()},
    "float_histories": "histories",
    "histories_shape": "histories",
    "float_tokens": {"tokens": np.array([1.5, 2.0])},
    "three_tokens": {"tokens": np.array([1, 2, 3])},
    "negative_tokens": {"tokens": np.array([3, -1])},
    "no_vocabulary": {"vocabulary": 0},
    "float_vocabulary": {"vocabulary": 5.0},
    "discount": {"discount": 1.0},
    "zero_discount": {"discount": 0.0},
    "large_discount": {"discount": 1.5},
    "nan_discount": {"discount": math.nan},
}


@pytest.mark.parametrize("change", MALFORMED)
def test_malformed_tables_are_refused(change: str) -> None:
    tables = fitted(2, 1).tables
    columns, counts, histories = list(tables.columns), list(tables.counts), list(tables.histories)
    size = columns[0].size
    if change == "unsorted":
        columns[0] = columns[0][::-1].copy()
    elif change == "repeated_column":
        columns[0] = np.r_[columns[0][:1], columns[0][:-1]]
    elif change == "negative_column":  # increasing, but from -1
        columns[0] = np.arange(-1, size - 1, dtype=np.int32)
    elif change == "int64":
        columns[0] = columns[0].astype(np.int64)
    elif change == "2d_columns":
        columns[0] = columns[0].reshape(1, -1)
    elif change == "a_count_array_short":
        counts = counts[:1]
    elif change == "counts_shape":
        counts[1] = counts[1][:, :1].copy()
    elif change == "float_counts":
        counts[1] = counts[1].astype(np.float32)
    elif change == "float_histories":
        histories[0] = histories[0].astype(np.float64)
    elif change == "histories_shape":
        histories[0] = histories[0][:, :3].copy()
    changes = MALFORMED[change]
    if not isinstance(changes, dict):
        changes = {
            "columns": tuple(columns),
            "counts": tuple(counts),
            "histories": tuple(histories),
        }
    with pytest.raises(ValueError, match=r"language model|discount|per order"):
        rebuilt(tables, **changes)


def test_tables_at_the_edges_of_the_checks_are_taken() -> None:
    tables = fitted(2, 1).tables
    # Columns from 0, one apart; no token in either class; V = 1; uint32 counts; a tiny D.
    first = np.arange(tables.columns[0].size, dtype=np.int32)
    edge = rebuilt(
        tables,
        columns=(first, tables.columns[1]),
        counts=(tables.counts[0].astype(np.uint32), tables.counts[1]),
        tokens=np.array([0, 0], dtype=np.uint16),
        vocabulary=1,
        discount=1e-9,
    )
    assert edge.columns[0] is first
    assert edge.tokens.dtype == np.int64
    assert edge.tokens.tolist() == [0, 0]
    assert (edge.vocabulary, edge.discount, edge.order) == (1, 1e-9, 2)
    with pytest.raises(AttributeError):
        edge.vocabulary = 2  # type: ignore[misc]


def test_fitting_checks_its_settings() -> None:
    docs, grams = HASHER.token_ngrams(TRAINING)
    with pytest.raises(ValueError, match="order"):
        fit_tables(docs, grams, np.array(SECOND), 4, 1, D)
    with pytest.raises(ValueError, match="order 0 needs"):
        fit_tables(docs, grams, np.array(SECOND), 0, 1, D)
    with pytest.raises(ValueError, match="discount"):
        fit_tables(docs, grams, np.array(SECOND), 3, 1, 1.0)


def test_scoring_needs_n_grams_and_rows_of_every_order() -> None:
    model = fitted(3, 1)
    _, grams = HASHER.token_ngrams(SCORED)
    rows = model.rows(grams)
    for short_grams, short_rows in ((grams[:2], rows), (grams, rows[:2])):
        with pytest.raises(ValueError, match="an order-3 model needs n-grams up to 3"):
            model.token_log_ratios(short_grams, short_rows)
    assert model.token_log_ratios(grams, rows).shape == (grams.shape[1],)


def column(gram: tuple[str, ...]) -> int:
    """The hashed column of a word n-gram."""
    _, grams = HASHER.token_ngrams([" ".join(gram)])
    return int(grams[len(gram) - 1][-1])


def expected_tables(
    reference: Reference, min_count: int
) -> list[dict[int, tuple[list[int], list[int]]]]:
    """Per order, column -> (counts in each class, [c(h) in each class, N1+(h .) in each
    class]) of what the module docstring says is stored, counted on the words themselves."""
    least = max(min_count, 1)

    def kept_history(n: int, h: tuple[str, ...]) -> list[bool]:
        """Per class: whether h is a kept history of the order-n n-grams."""
        ch = [reference.history[k][n].get(h, 0) for k in range(2)]
        return [ch[k] > 0 and sum(ch) >= least for k in range(2)]

    tables: list[dict[int, tuple[list[int], list[int]]]] = []
    for n in range(1, reference.order + 1):
        table: dict[int, tuple[list[int], list[int]]] = {}
        grams = set(reference.counts[0][n]) | set(reference.counts[1][n])
        for gram in grams:
            c = [reference.counts[k][n][gram] for k in range(2)]
            if n > 1:
                history = kept_history(n, gram[:-1])
                c = [c[k] if c[k] > 0 and sum(c) >= least and history[k] else 0 for k in range(2)]
            if any(c):
                table[column(gram)] = (c, [0, 0, 0, 0])
        if n < reference.order:
            for h in set(reference.history[0][n + 1]) | set(reference.history[1][n + 1]):
                kept = kept_history(n + 1, h)
                if any(kept):
                    stats = [reference.history[k][n + 1][h] * kept[k] for k in range(2)]
                    stats += [reference.followers[k][n + 1][h] * kept[k] for k in range(2)]
                    counts = table.get(column(h), ([0, 0], []))[0]
                    table[column(h)] = (counts, stats)
        tables.append(table)
    return tables


@pytest.mark.parametrize(("order", "min_count"), [(1, 1), (2, 1), (3, 0), (3, 2), (3, 3), (2, 4)])
def test_the_tables_hold_what_was_counted(order: int, min_count: int) -> None:
    reference = Reference(TRAINING, SECOND, order, min_count)
    tables = fitted(order, min_count).tables
    assert tables.order == order
    assert tables.tokens.tolist() == reference.tokens
    assert tables.vocabulary == reference.size
    assert tables.discount == D
    expected = expected_tables(reference, min_count)
    assert tables.n_entries == sum(len(table) for table in expected)
    for n in range(1, order + 1):
        table = expected[n - 1]
        assert tables.columns[n - 1].tolist() == sorted(table)
        assert tables.counts[n - 1].dtype == np.uint16
        assert tables.counts[n - 1].tolist() == [table[c][0] for c in sorted(table)]
        if n < order:
            assert tables.histories[n - 1].dtype == np.uint16
            assert tables.histories[n - 1].tolist() == [table[c][1] for c in sorted(table)]
    assert len(tables.histories) == order - 1


def test_counts_past_16_bits_are_stored_in_32() -> None:
    # "great" 2**16 + 1 times in the second class: 2**16 of it followed by a token.
    texts = ["great " * (2**16 + 1), "great " * (2**16 - 1) + "film", "awful film"]
    docs, grams = HASHER.token_ngrams(texts)
    tables = fit_tables(docs, grams, np.array([True, False, False]), 2, 1, D)
    great = tables.columns[0].tolist().index(column(("great",)))
    assert tables.tokens.tolist() == [2**16 + 2, 2**16 + 1]
    assert tables.counts[0].dtype == np.uint32
    assert tables.counts[0][great].tolist() == [2**16 - 1, 2**16 + 1]
    assert tables.histories[0].dtype == np.uint32
    assert tables.histories[0][great].tolist() == [2**16 - 1, 2**16, 2, 1]
    # One short of 2**16 everywhere: 16 bits.
    texts = ["great " * (2**16 - 1), "awful film"]
    docs, grams = HASHER.token_ngrams(texts)
    tables = fit_tables(docs, grams, np.array([True, False]), 2, 1, D)
    great = tables.columns[0].tolist().index(column(("great",)))
    assert tables.counts[0].dtype == tables.histories[0].dtype == np.uint16
    assert tables.counts[0][great].tolist() == [0, 2**16 - 1]


def test_a_count_under_a_history_a_class_did_not_keep_is_not_read_in_that_class() -> None:
    # Tables made by hand: the unigrams a (column 10) and b (20), the bigram "a b" (column 5).
    # "a" is a kept history in the second class only, yet the column of "a b" has a count in
    # both: a hash collision gives that (the column is also that of an n-gram whose history the
    # first class kept). The first class must then take p1(b), as the module docstring says for
    # a history that is not kept, whatever the column's count.
    tables = LanguageModelTables(
        columns=(np.array([10, 20], dtype=np.int32), np.array([5], dtype=np.int32)),
        counts=(np.array([[2, 5], [1, 4]], dtype=np.uint16), np.array([[3, 3]], dtype=np.uint16)),
        histories=(np.array([[0, 4, 0, 2], [0, 0, 0, 0]], dtype=np.uint16),),
        tokens=np.array([3, 9]),
        vocabulary=3,
        discount=0.5,
    )
    grams = np.array([[10, 20], [-1, 5]], dtype=np.int32)  # the text "a b"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by a zero c(h), no log of 0
        model = ClassLanguageModel(tables)
        rows = model.rows(grams)
        ratios = model.token_log_ratios(grams, rows)
    assert [r.tolist() for r in rows] == [[0, 1], [-1, 0]]
    first = [(2 + 1) / (3 + 3), (1 + 1) / (3 + 3)]  # p1(a), p1(b): add-one unigrams
    second_b = (3 - 0.5) / 4 + 0.5 * 2 / 4 * (4 + 1) / (9 + 3)
    second = [(5 + 1) / (9 + 3), second_b]
    expected = [math.log(s) - math.log(f) for f, s in zip(first, second, strict=True)]
    np.testing.assert_allclose(ratios, expected, rtol=1e-6)
