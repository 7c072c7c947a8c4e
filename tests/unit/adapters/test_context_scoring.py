"""`nblr-ctx`'s scoring (`context_scoring`) against the same numbers computed another way: the
sparse product of the texts and of their sentences hashed alone, aggregated in plain Python."""

from __future__ import annotations

import dataclasses
import math
import statistics
import warnings
from typing import Any

import numpy as np
import pytest

from sentiment.adapters.byte_tokens import WORDS_AND_MARKS
from sentiment.adapters.context_scoring import (
    CHUNK,
    N_AGGREGATES,
    ContextScorer,
    StackedScorer,
    Stacker,
    features,
    split_sentences,
)
from sentiment.adapters.negation import NegationMarking
from sentiment.adapters.text_hashing import HashingSettings, NgramHasher

Array = np.ndarray[Any, Any]

BLOCK = HashingSettings(
    token_pattern=WORDS_AND_MARKS,
    ngram_range=(1, 2),
    n_features=2**10,
    stop_words=("br",),
    binary=True,
)
MARKING = NgramHasher(BLOCK, negation=NegationMarking(window=2))
WORDS = ["not", "good", "bad", "film", "great", "awful", "plot", "no", "fun", "the"]
ENDS = [". ", "! ", "? ", "<br />", " ", " ", ", "]


def made_texts(count: int, seed: int) -> list[str]:
    """Short reviews of one to a few sentences (some without a word, some empty)."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        size = int(rng.integers(0, 12))
        texts.append("".join(f"{rng.choice(WORDS)}{rng.choice(ENDS)}" for _ in range(size)))
    return [*texts, "", "...", "<br />", "Not good. Not bad!"]


def quarters(rows: int, columns: int, seed: int) -> Array:
    """float32 coefficients in quarters: their sums are exact in float32 and float64 alike."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-8, 9, size=(rows, columns)) / 4).astype(np.float32)


def expected_features(
    hasher: NgramHasher, texts: list[str], coef: Array, intercept: Array, model_of: Array
) -> list[list[float]]:
    """The 8 aggregates of the module docstring, one text at a time: scores from the sparse
    product (of which n-grams each text and sentence holds), aggregated in Python."""
    rows = []
    for text, k in zip(texts, model_of.tolist(), strict=True):
        sentences = split_sentences(text)
        x = hasher.transform([text, *sentences])
        scores = [float(v) for v in (x > 0).astype(np.float64) @ coef[:, k].astype(np.float64)]
        scores = [s + float(intercept[k]) for s in scores]
        review, sentence = scores[0], scores[1:]
        rows.append(
            [
                review,
                statistics.fmean(sentence),
                max(sentence),
                min(sentence),
                sentence[0],
                sentence[-1],
                sum(s > 0 for s in sentence) / len(sentence),
                math.log(len(sentence)),
            ]
        )
    return rows


def test_features_over_several_chunks_are_each_texts_own() -> None:
    texts = made_texts(2 * CHUNK + 3, seed=5)
    coef = quarters(MARKING.n_columns, 3, seed=6)
    intercept = np.array([0.25, -0.5, 1.0])
    model_of = np.random.default_rng(7).integers(0, 3, size=len(texts))
    got = features(MARKING, texts, coef, intercept, model_of)
    assert got.shape == (len(texts), N_AGGREGATES)
    expected = expected_features(MARKING, texts, coef, intercept, model_of)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # Without `model_of`, the first model scores every text.
    first = features(MARKING, texts, coef, intercept)
    zeros = np.zeros(len(texts), dtype=np.int64)
    np.testing.assert_allclose(
        first, expected_features(MARKING, texts, coef, intercept, zeros), rtol=1e-12, atol=1e-12
    )


def test_a_hasher_that_counts_is_scored_on_which_n_grams_a_text_holds() -> None:
    counting = NgramHasher(dataclasses.replace(BLOCK, binary=False))
    assert counting.exact_spans
    assert not counting.binary_unnormalized
    texts = ["good good good. bad!", "not fun fun<br />the plot the plot", *made_texts(30, seed=8)]
    coef = quarters(counting.n_columns, 2, seed=9)
    intercept = np.array([0.5, -0.25])
    model_of = np.arange(len(texts)) % 2
    got = features(counting, texts, coef, intercept, model_of)
    expected = expected_features(counting, texts, coef, intercept, model_of)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# -- the stacker ---------------------------------------------------------------------------------


def stacker(**changes: Any) -> Stacker:
    fields: dict[str, Any] = {
        "mean": np.array([1.0, -2.0, 0.5]),
        "scale": np.array([2.0, 0.5, 4.0]),
        "coef": np.array([0.75, -1.5, 2.0]),
        "intercept": -0.25,
    }
    return Stacker(**{**fields, **changes})


def test_the_stacker_standardises_then_weighs() -> None:
    rows = np.array([[3.0, -1.0, 4.5], [1.0, -2.0, 0.5], [-1.0, 0.0, -3.5]])
    expected = [
        -0.25 + 0.75 * (a - 1.0) / 2.0 - 1.5 * (b + 2.0) / 0.5 + 2.0 * (c - 0.5) / 4.0
        for a, b, c in rows.tolist()
    ]
    np.testing.assert_allclose(stacker().decision(rows), expected, rtol=1e-15)
    assert stacker().decision(np.zeros((0, 3))).shape == (0,)
    for bad in (np.zeros((2, 2)), np.zeros((2, 4)), np.zeros(3)):
        with pytest.raises(ValueError, match="takes 3 inputs"):
            stacker().decision(bad)
    with pytest.raises(AttributeError):
        stacker().intercept = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes",
    [
        {"mean": np.zeros(2)},
        {"scale": np.ones((1, 3))},
        {"coef": np.array([1.0, np.nan, 1.0])},
        {"mean": np.array([0.0, np.inf, 0.0])},
        {"mean": np.zeros(0), "scale": np.zeros(0), "coef": np.zeros(0)},
        {"scale": np.array([1.0, 0.0, 1.0])},
        {"scale": np.array([1.0, -1.0, 1.0])},
        {"intercept": math.inf},
    ],
)
def test_a_malformed_stacker_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="stacker"):
        stacker(**changes)


def test_a_stacker_with_small_scales_is_taken() -> None:
    small = stacker(scale=np.array([0.5, 1e-300, 3.0]), intercept=0.0)
    assert small.size == 3
    assert small.scale.dtype == np.float64
    assert small.scale.tolist() == [0.5, 1e-300, 3.0]


def test_a_fitted_stacker_is_the_logistic_regression_on_standardised_inputs() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    signal = rng.normal(size=200)
    # A column that varies, one shifted and scaled, one constant (scale 1, not 0).
    inputs = np.column_stack([signal, 100.0 + 50.0 * rng.normal(size=200), np.full(200, 7.0)])
    positive = signal + 0.5 * rng.normal(size=200) > 0
    fitted = Stacker.fit(inputs, positive, 0.5)
    mean, scale = inputs.mean(axis=0), inputs.std(axis=0)
    np.testing.assert_allclose(fitted.mean, mean)
    np.testing.assert_allclose(fitted.scale, [scale[0], scale[1], 1.0])
    model = LogisticRegression(C=0.5).fit((inputs[:, :2] - mean[:2]) / scale[:2], positive)
    np.testing.assert_allclose(fitted.coef[:2], model.coef_[0], rtol=1e-4, atol=1e-6)
    assert fitted.coef[2] == 0.0  # a constant input weighs nothing
    assert fitted.intercept == pytest.approx(float(model.intercept_[0]), rel=1e-4, abs=1e-6)
    assert fitted.coef[0] > 0  # the signal points to the second class
    np.testing.assert_allclose(
        fitted.decision(inputs), model.decision_function((inputs[:, :2] - mean[:2]) / scale[:2])
    )


def test_a_stacker_given_lists_holds_float64_arrays() -> None:
    made = Stacker(mean=[0.0, 1], scale=[1, 2.0], coef=[0.5, -1], intercept=0.25)  # type: ignore[arg-type]
    for name in ("mean", "scale", "coef"):
        value = getattr(made, name)
        assert isinstance(value, np.ndarray)
        assert value.dtype == np.float64
    # ((2 - 0) / 1) * 0.5 + ((3 - 1) / 2) * -1 + 0.25
    assert made.decision(np.array([[2.0, 3.0]])).tolist() == [0.25]


def test_a_stacker_round_trips_through_json() -> None:
    original = stacker()
    again = Stacker.from_json(original.to_json())
    for name in ("mean", "scale", "coef"):
        assert getattr(again, name).tolist() == getattr(original, name).tolist()
    assert again.intercept == original.intercept
    data = original.to_json()
    for bad in (
        None,
        "mean",
        [1, 2],
        {**data, "extra": 1},
        {k: v for k, v in data.items() if k != "coef"},
        {**data, "intercept": [1.0, 2.0]},
        {**data, "mean": [[1.0, 2.0, 3.0]]},
    ):
        with pytest.raises(ValueError, match="stacker"):
            Stacker.from_json(bad)  # type: ignore[arg-type]


# -- the scorers ---------------------------------------------------------------------------------


class LengthScorer(StackedScorer):
    """One input: the length of the text."""

    def inputs(self, texts: list[str]) -> Array:
        return np.array([[float(len(t))] for t in texts])


def test_probabilities_are_the_logistic_function_of_the_score() -> None:
    scorer = LengthScorer(Stacker(np.zeros(1), np.ones(1), np.ones(1), -3.0))
    texts = ["", "ab", "abc", "abcdef", "x" * 40, "x" * 800, "x" * 2000]
    scores = scorer.decision_function(texts)
    assert scores.tolist() == [-3.0, -1.0, 0.0, 3.0, 37.0, 797.0, 1997.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = scorer.predict_proba(texts)
    expected = [1.0 / (1.0 + math.exp(-s)) for s in scores.tolist()[:5]] + [1.0, 1.0]
    np.testing.assert_allclose(proba[:, 1], expected, rtol=1e-15)
    np.testing.assert_allclose(proba[:, 0], [1.0 - p for p in expected], rtol=1e-15)
    assert proba[2].tolist() == [0.5, 0.5]
    assert proba[-1].tolist() == [0.0, 1.0]
    low = LengthScorer(Stacker(np.zeros(1), np.ones(1), -np.ones(1), 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = low.predict_proba(["x" * 720, "x" * 5000])
    assert proba[:, 0].tolist() == [1.0, 1.0]
    assert 0.0 < proba[0, 1] < 1e-300  # e**-720: past -700 it stays at e**-700
    assert proba[1, 1] == proba[0, 1]


def test_a_scorer_takes_a_list_of_texts_only() -> None:
    scorer = LengthScorer(Stacker(np.zeros(1), np.ones(1), np.ones(1), 0.0))
    assert scorer.decision_function([]).shape == (0,)
    assert scorer.decision_function([]).dtype == np.float64
    assert scorer.predict_proba([]).shape == (0, 2)
    assert scorer.decision_function(["abcd"]).tolist() == [4.0]
    with pytest.raises(TypeError, match="str"):
        scorer.decision_function(["ok", 3])  # type: ignore[list-item]


def test_the_context_scorer_is_the_stacker_on_the_aggregates() -> None:
    texts = made_texts(40, seed=11)
    coef = quarters(MARKING.n_columns, 1, seed=12)
    rng = np.random.default_rng(13)
    stack = Stacker(
        mean=rng.normal(size=N_AGGREGATES),
        scale=rng.uniform(0.5, 2.0, size=N_AGGREGATES),
        coef=rng.normal(size=N_AGGREGATES),
        intercept=0.125,
    )
    scorer = ContextScorer(MARKING, coef[:, 0], 0.75, stack)
    assert scorer.stacker is stack
    aggregated = expected_features(
        MARKING, texts, coef, np.array([0.75]), np.zeros(len(texts), dtype=np.int64)
    )
    parts = list(zip(stack.mean.tolist(), stack.scale.tolist(), stack.coef.tolist(), strict=True))
    expected = [
        0.125 + sum((a - m) / s * c for a, (m, s, c) in zip(row, parts, strict=True))
        for row in aggregated
    ]
    np.testing.assert_allclose(scorer.decision_function(texts), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="coefficients"):
        ContextScorer(MARKING, coef[:-1, 0], 0.0, stack)
    with pytest.raises(ValueError, match="coefficients"):
        ContextScorer(MARKING, coef, 0.0, stack)
    with pytest.raises(ValueError, match="8 aggregates"):
        ContextScorer(MARKING, coef[:, 0], 0.0, stacker())
