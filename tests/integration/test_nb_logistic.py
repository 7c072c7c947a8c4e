"""Folded NB-LR: the stored LogisticRegression scores exactly like NB-weighted features + LR."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from sentiment.adapters.nb_logistic import (
    NbSettings,
    dense_coef,
    fit_nb_logistic,
    fit_temperature,
    log_count_ratio,
    nb_weighted,
)
from sentiment.adapters.sklearn_classifier import _vectorizer
from sentiment.adapters.text_hashing import NgramHasher
from tests.conftest import sample_frame

Array = np.ndarray[Any, Any]


@pytest.fixture(scope="module")
def data(shared_frame: pd.DataFrame) -> tuple[sp.csr_matrix, Array, sp.csr_matrix]:
    """Binary hashed 1-2grams of 600 training and 200 held-out reviews, and the labels."""
    frame = sample_frame(shared_frame, 800, seed=4)
    texts = [str(t) for t in frame["text"].tolist()]
    hasher = NgramHasher(_vectorizer(2, 18, binary=True))
    labels = np.asarray(frame["label"].tolist()[:600], dtype=str)
    return hasher.transform(texts[:600]), labels, hasher.transform(texts[600:])


def reference_scores(
    x: sp.csr_matrix, positive: Array, held_out: sp.csr_matrix, settings: NbSettings
) -> Array:
    """NBSVM as published: NB-weighted features, LR, interpolation. Nothing folded."""
    r = log_count_ratio(x, positive, settings.nb_alpha)
    df = np.asarray((x > 0).sum(axis=0)).ravel()
    r[df < settings.min_df] = 0.0
    model = LogisticRegression(
        C=settings.C, solver="liblinear", dual=True, max_iter=settings.max_iter, random_state=0
    )
    model.fit(nb_weighted(x, r), positive)
    lr_score = model.decision_function(nb_weighted(held_out, r))
    w_bar = np.abs(model.coef_[0]).mean()
    nb_score = held_out @ r.astype(np.float64)
    beta = settings.beta
    # beta * (w . (r x) + b) + (1 - beta) * w_bar * (r . x)
    scores: Array = beta * lr_score + (1 - beta) * w_bar * nb_score
    return scores


@pytest.mark.parametrize(
    "settings",
    [
        NbSettings(beta=1.0, min_df=1, calibrate=False),
        NbSettings(calibrate=False),
        NbSettings(C=1.0, beta=0.5, min_df=2, calibrate=False),
    ],
    ids=["plain", "default", "interpolated"],
)
def test_folding_keeps_the_scores(
    data: tuple[sp.csr_matrix, Array, sp.csr_matrix], settings: NbSettings
) -> None:
    x, labels, held_out = data
    folded = fit_nb_logistic(x, labels, settings)
    assert folded.classes_.tolist() == ["negative", "positive"]
    expected = reference_scores(x, labels == "positive", held_out, settings)
    got = folded.decision_function(held_out)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert (folded.predict(held_out) == np.where(expected > 0, "positive", "negative")).all()


def test_the_folded_model_is_dense_float32_without_rare_features(
    data: tuple[sp.csr_matrix, Array, sp.csr_matrix],
) -> None:
    x, labels, _ = data
    folded = fit_nb_logistic(x, labels, NbSettings(min_df=3))
    assert isinstance(folded.coef_, np.ndarray)  # dense: fast in any scikit-learn consumer
    assert folded.coef_.dtype == np.float32
    assert folded.intercept_.dtype == np.float32
    coef = dense_coef(folded)[0]
    document_frequency = np.asarray((x > 0).sum(axis=0)).ravel()
    assert not coef[document_frequency < 3].any()
    assert coef[document_frequency >= 3].all()


def test_more_than_two_classes_are_one_vs_rest(
    data: tuple[sp.csr_matrix, Array, sp.csr_matrix],
) -> None:
    x, labels, held_out = data
    three = labels.copy()
    three[::3] = "neutral"
    settings = NbSettings(min_df=1, calibrate=False)
    folded = fit_nb_logistic(x, three, settings)
    assert folded.classes_.tolist() == ["negative", "neutral", "positive"]
    assert dense_coef(folded).shape == (3, x.shape[1])
    for k, target in enumerate(folded.classes_):
        expected = reference_scores(x, three == target, held_out, settings)
        np.testing.assert_allclose(
            folded.decision_function(held_out)[:, k], expected, rtol=1e-4, atol=1e-4
        )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_calibration_scales_the_scores_by_one_temperature(
    data: tuple[sp.csr_matrix, Array, sp.csr_matrix], n_classes: int
) -> None:
    x, labels, held_out = data
    if n_classes == 3:
        labels = labels.copy()
        labels[::3] = "neutral"
    raw = fit_nb_logistic(x, labels, NbSettings(calibrate=False))
    calibrated = fit_nb_logistic(x, labels, NbSettings(calibrate=True))
    ratio = dense_coef(calibrated)[dense_coef(raw) != 0] / dense_coef(raw)[dense_coef(raw) != 0]
    temperature = float(np.median(ratio))
    assert temperature > 1.0  # the interpolation shrinks scores: calibration stretches them
    np.testing.assert_allclose(ratio, temperature, rtol=1e-5)
    np.testing.assert_allclose(calibrated.intercept_, raw.intercept_ * temperature, rtol=1e-5)
    assert (calibrated.predict(held_out) == raw.predict(held_out)).all()


def test_calibration_lowers_the_held_out_log_loss(
    data: tuple[sp.csr_matrix, Array, sp.csr_matrix], shared_frame: pd.DataFrame
) -> None:
    x, labels, held_out = data
    truth = (
        np.asarray(sample_frame(shared_frame, 800, seed=4)["label"].tolist()[600:]) == "positive"
    )

    def log_loss(settings: NbSettings) -> float:
        p = fit_nb_logistic(x, labels, settings).predict_proba(held_out)[:, 1]
        return float(-np.mean(np.log(np.where(truth, p, 1 - p))))

    assert log_loss(NbSettings(calibrate=True)) < log_loss(NbSettings(calibrate=False))


@pytest.mark.parametrize("true_temperature", [0.5, 3.0])
def test_fit_temperature_finds_the_temperature_of_the_data(true_temperature: float) -> None:
    rng = np.random.default_rng(0)
    two = rng.normal(0, 2, size=(20000, 1))
    truth = (rng.random(20000) < 1 / (1 + np.exp(-true_temperature * two[:, 0]))).astype(int)
    assert fit_temperature(two, truth) == pytest.approx(true_temperature, rel=0.05)
    three = rng.normal(0, 2, size=(20000, 3))
    p = np.exp(true_temperature * three)
    p /= p.sum(axis=1, keepdims=True)
    picked = (rng.random(20000)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    assert fit_temperature(three, picked) == pytest.approx(true_temperature, rel=0.05)


def test_one_class_is_refused(data: tuple[sp.csr_matrix, Array, sp.csr_matrix]) -> None:
    x, labels, _ = data
    with pytest.raises(ValueError, match="two classes"):
        fit_nb_logistic(x, np.full(labels.shape, "positive"), NbSettings())
