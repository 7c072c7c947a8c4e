"""Class language models over hashed n-grams give what the formulas give on the words themselves."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment.adapters.byte_tokens import WORDS_AND_MARKS
from sentiment.adapters.class_lm import ClassLanguageModel, LanguageModelTables, fit_tables
from sentiment.adapters.text_hashing import HashingSettings, NgramHasher

HASHER = NgramHasher(
    HashingSettings(
        token_pattern=WORDS_AND_MARKS,
        ngram_range=(1, 3),
        n_features=2**30,
        stop_words=("br",),
        binary=True,
    )
)
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


@pytest.mark.parametrize(
    "change",
    ["unsorted", "int64", "counts_shape", "float_counts", "histories", "tokens", "discount"],
)
def test_malformed_tables_are_refused(change: str) -> None:
    tables = fitted(2, 1).tables
    columns, counts, histories = list(tables.columns), list(tables.counts), list(tables.histories)
    tokens, discount = tables.tokens, tables.discount
    if change == "unsorted":
        columns[0] = columns[0][::-1].copy()
    elif change == "int64":
        columns[0] = columns[0].astype(np.int64)
    elif change == "counts_shape":
        counts[1] = counts[1][:, :1].copy()
    elif change == "float_counts":
        counts[1] = counts[1].astype(np.float32)
    elif change == "histories":
        histories = []
    elif change == "tokens":
        tokens = np.array([1.5, 2.0])
    elif change == "discount":
        discount = 1.0
    with pytest.raises(ValueError, match=r"language model|discount|per order"):
        LanguageModelTables(
            tuple(columns), tuple(counts), tuple(histories), tokens, tables.vocabulary, discount
        )


def test_fitting_checks_its_settings() -> None:
    docs, grams = HASHER.token_ngrams(TRAINING)
    with pytest.raises(ValueError, match="order"):
        fit_tables(docs, grams, np.array(SECOND), 4, 1, D)
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
