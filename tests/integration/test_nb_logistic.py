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
    [NbSettings(beta=1.0, min_df=1), NbSettings(), NbSettings(C=0.3, beta=0.5, min_df=2)],
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


def test_the_folded_model_is_float32_and_sparse_without_rare_features(
    data: tuple[sp.csr_matrix, Array, sp.csr_matrix],
) -> None:
    x, labels, _ = data
    folded = fit_nb_logistic(x, labels, NbSettings(min_df=3))
    assert isinstance(folded.coef_, sp.csr_matrix)
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
    settings = NbSettings(min_df=1)
    folded = fit_nb_logistic(x, three, settings)
    assert folded.classes_.tolist() == ["negative", "neutral", "positive"]
    assert dense_coef(folded).shape == (3, x.shape[1])
    for k, target in enumerate(folded.classes_):
        expected = reference_scores(x, three == target, held_out, settings)
        np.testing.assert_allclose(
            folded.decision_function(held_out)[:, k], expected, rtol=1e-4, atol=1e-4
        )


def test_one_class_is_refused(data: tuple[sp.csr_matrix, Array, sp.csr_matrix]) -> None:
    x, labels, _ = data
    with pytest.raises(ValueError, match="two classes"):
        fit_nb_logistic(x, np.full(labels.shape, "positive"), NbSettings())
