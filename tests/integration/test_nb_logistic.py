"""Folded NB-LR: the stored LogisticRegression scores exactly like NB-weighted features + LR."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize
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


# -- NB-LR from its definition, on a tiny data set ------------------------------------------


def tiny_features(rng: np.random.Generator, sizes: tuple[int, ...]) -> tuple[Array, Array]:
    """Binary features of `sizes[k]` texts of class k: 10 telling columns (each class favours
    others), then a column seen in 2 texts and one never seen; labels "c0", "c1", ..."""
    labels = np.repeat([f"c{k}" for k in range(len(sizes))], sizes)
    favour = np.linspace(0.1, 0.7, 10)
    rows = [rng.random((size, 10)) < np.roll(favour, 3 * k) for k, size in enumerate(sizes)]
    x = np.zeros((labels.size, 12))
    x[:, :10] = np.vstack(rows)
    x[[0, -1], 10] = 1.0
    order = rng.permutation(labels.size)
    return x[order], labels[order]


def nb_lr_by_hand(x: Array, positive: Array, settings: NbSettings) -> tuple[Array, float]:
    """Folded coefficients and intercept from the definition, with numpy and scipy's BFGS.

    r = log((p / |p|_1) / (q / |q|_1)), p and q = alpha + the counts in and out of the class, 0
    for features in fewer than min_df texts (and never seen); (w, b) minimises liblinear's L2
    logistic loss 0.5 |(w, b)|^2 + C sum log(1 + exp(-y (w . r x + b))) (the bias penalised as a
    weight); w is interpolated towards its mean magnitude (over `mean_over` features if given),
    b scaled by beta; the coefficients of x are w' * r.
    """
    p = settings.nb_alpha + x[positive].sum(axis=0)
    q = settings.nb_alpha + x[~positive].sum(axis=0)
    r = np.log((p / p.sum()) / (q / q.sum()))
    document_frequency = (x > 0).sum(axis=0)
    r[(document_frequency < settings.min_df) | (document_frequency == 0)] = 0.0
    z = np.hstack([x * r, np.ones((x.shape[0], 1))])
    y = np.where(positive, 1.0, -1.0)

    def loss(v: Array) -> tuple[float, Array]:
        margins = y * (z @ v)
        gradient = v - settings.C * z.T @ (y / (1.0 + np.exp(margins)))
        return float(0.5 * v @ v + settings.C * np.logaddexp(0.0, -margins).sum()), gradient

    v = minimize(loss, np.zeros(z.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-10}).x
    w, b = v[:-1], float(v[-1])
    over = x.shape[1] if settings.mean_over is None else settings.mean_over
    w_bar = np.abs(w).sum() / over
    folded: Array = ((1.0 - settings.beta) * w_bar + settings.beta * w) * r
    return folded, settings.beta * b


@pytest.mark.parametrize(
    ("sizes", "settings"),
    [
        ((30, 34), NbSettings(calibrate=False)),
        ((30, 34), NbSettings(C=0.3, nb_alpha=0.5, beta=0.5, min_df=1, calibrate=False)),
        ((30, 34), NbSettings(min_df=0, calibrate=False)),
        ((30, 34), NbSettings(nb_alpha=2.0, mean_over=1, calibrate=False)),
        ((30, 34), NbSettings(beta=0.1, mean_over=40, calibrate=False)),
        ((20, 25, 30), NbSettings(min_df=2, calibrate=False)),
    ],
    ids=["default", "other", "min_df-0", "mean-over-1", "mean-over-40", "three-classes"],
)
def test_the_folded_model_is_nb_lr_computed_by_hand(
    sizes: tuple[int, ...], settings: NbSettings
) -> None:
    x, labels = tiny_features(np.random.default_rng(1), sizes)
    model = fit_nb_logistic(sp.csr_matrix(x), labels, settings)
    classes = sorted(set(labels.tolist()))
    assert model.classes_.tolist() == classes
    targets = classes[1:] if len(classes) == 2 else classes
    for k, target in enumerate(targets):
        coef, intercept = nb_lr_by_hand(x, labels == target, settings)
        assert not coef[11]  # never seen: no weight, whatever min_df
        np.testing.assert_allclose(dense_coef(model)[k], coef, rtol=1e-4, atol=1e-4)
        assert float(model.intercept_[k]) == pytest.approx(intercept, abs=1e-4)
    with pytest.raises(ValueError, match="expecting 12 features"):
        model.predict(sp.csr_matrix(x[:, :11]))


def test_texts_without_any_feature_get_the_class_prior() -> None:
    labels = np.repeat(["negative", "positive"], [10, 20])
    x = sp.csr_matrix(np.zeros((30, 8), dtype=np.float32))  # no n-gram: none seen (mean_over 0)
    model = fit_nb_logistic(x, labels, NbSettings(calibrate=False, mean_over=0))
    assert not dense_coef(model).any()
    assert (model.predict_proba(x)[:, 1] > 0.5).all()


@pytest.mark.parametrize(("smallest", "calibrated"), [(22, False), (23, True)])
def test_calibration_needs_five_texts_of_each_class_held_out(
    smallest: int, calibrated: bool
) -> None:
    """20% of each class is held out (rounded), at least 5 texts: 22 texts give 4, 23 give 5."""
    x, labels = tiny_features(np.random.default_rng(2), (smallest, 40, 40))
    matrix = sp.csr_matrix(x)
    raw = fit_nb_logistic(matrix, labels, NbSettings(min_df=1, calibrate=False))
    model = fit_nb_logistic(matrix, labels, NbSettings(min_df=1, calibrate=True))
    if not calibrated:
        np.testing.assert_array_equal(model.coef_, raw.coef_)
        np.testing.assert_array_equal(model.intercept_, raw.intercept_)
        return
    temperature = float(model.intercept_[0] / raw.intercept_[0])
    assert temperature != pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(model.coef_, raw.coef_ * temperature, rtol=1e-5, atol=1e-7)


def test_calibration_restores_the_class_prior_the_interpolation_shrinks() -> None:
    """Features that say nothing of the label, 4 positive texts to 1 negative: the interpolation
    scales the intercept by beta, so the raw model says about 0.58; the temperature, fitted on
    held-out scores intercept included, brings it back to the share of positive texts."""
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(2000) < 0.8, "positive", "negative")
    x = sp.csr_matrix((rng.random((2000, 10)) < 0.1).astype(np.float32))
    fresh = sp.csr_matrix((rng.random((2000, 10)) < 0.1).astype(np.float32))
    share = float(np.mean(labels == "positive"))
    raw = fit_nb_logistic(x, labels, NbSettings(calibrate=False))
    calibrated = fit_nb_logistic(x, labels, NbSettings(calibrate=True))
    assert float(raw.predict_proba(fresh)[:, 1].mean()) < share - 0.15
    assert float(calibrated.predict_proba(fresh)[:, 1].mean()) == pytest.approx(share, abs=0.02)
