"""Naive-Bayes-weighted logistic regression (NBSVM-style, Wang & Manning 2012), folded.

Training: for each class against the rest (one problem for two classes), weight every binary
feature by its naive-Bayes log-count ratio r = log((p / |p|_1) / (q / |q|_1)), where p and q are
the smoothed feature counts in and out of the class; fit an L2 logistic regression on the weighted
features; interpolate its weights towards their mean magnitude (the NBSVM `beta`).

Folding: the model scores `x . (r * w') + beta * b`, so `r * w'` *is* a coefficient vector of the
unweighted binary features. The result is a plain fitted `LogisticRegression` over its input
features (for `nblr`, the hashed columns `HashedVocabulary` kept): no custom type, nothing to
unpickle. Its coefficients are float32 and dense: features seen in fewer than `min_df` training
texts get no weight. (Stored sparse, `LogisticRegression.sparsify`, they would make the skops
file smaller but every scikit-learn `predict_proba`, MLflow's pyfunc included, 10-20x slower: a
sparse product per call. The serving file, `hashed_linear.py`, keeps only the non-zero ones.)

Calibration (temperature scaling, Guo et al. 2017) multiplies the scores by one number fitted on
held-out texts; labels do not change. The interpolation shrinks scores: uncalibrated, the model
said 0.65 where 92% of the reviews were positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class NbSettings:
    C: float = 1.0
    nb_alpha: float = 1.0
    beta: float = 0.25
    min_df: int = 3
    max_iter: int = 1000
    calibrate: bool = True
    random_state: int = 0
    # How many features the interpolation's mean weight magnitude is taken over; None: the
    # columns of the matrix. A hashed vocabulary passes the n-grams seen in training, so that
    # dropping the rare ones (whose weight is 0) does not change the mean.
    mean_over: int | None = None


CALIBRATION_SHARE = 0.2  # of each class, held out to fit the temperature
MIN_CALIBRATION_TEXTS = 5  # per class and side, or no calibration


def log_count_ratio(x: sp.csr_matrix, positive: Array, alpha: float) -> Array:
    """r = log((p / |p|_1) / (q / |q|_1)) with p, q = alpha + feature counts in / out of class."""
    n_features = x.shape[1]
    in_class = positive[np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))]
    data = x.data.astype(np.float64)
    p = alpha + np.bincount(x.indices[in_class], data[in_class], minlength=n_features)
    q = alpha + np.bincount(x.indices[~in_class], data[~in_class], minlength=n_features)
    r: Array = np.log((p / p.sum()) / (q / q.sum()))
    return r.astype(np.float32)


def nb_weighted(x: sp.csr_matrix, r: Array) -> sp.csr_matrix:
    """x with every column j scaled by r[j] (scales the stored values only: no matrix product)."""
    weighted = x.copy()
    weighted.data *= r[weighted.indices]
    return weighted


def fit_nb_logistic(x: sp.csr_matrix, labels: Array, settings: NbSettings) -> LogisticRegression:
    """A fitted, folded LogisticRegression over the binary features `x`, classes sorted.

    With `settings.calibrate`, its scores are multiplied by a temperature fitted on held-out
    texts, so that its probabilities mean what they say (labels do not change).
    """
    classes = np.array(sorted(set(labels.tolist())), dtype=str)
    if classes.size < 2:
        raise ValueError("need at least two classes to fit")
    x = sp.csr_matrix(x, dtype=np.float32)
    coef, intercept = fit_folded(x, labels, classes, settings)
    if settings.calibrate:
        temperature = _held_out_temperature(x, labels, classes, settings)
        coef *= np.float32(temperature)
        intercept *= np.float32(temperature)
    return folded_logistic_regression(classes, coef, intercept, settings.C)


def fit_folded(
    x: sp.csr_matrix, labels: Array, classes: Array, settings: NbSettings
) -> tuple[Array, Array]:
    """Folded coefficients (one row per problem) and intercepts."""
    # Features in fewer than min_df training texts (at least: never seen) get no weight.
    rare = np.bincount(x.indices, minlength=x.shape[1]) < max(settings.min_df, 1)
    targets = classes[1:] if classes.size == 2 else classes  # one problem, or one-vs-rest
    coefs: list[Array] = []
    intercepts: list[float] = []
    for target in targets:
        positive = labels == target
        r = log_count_ratio(x, positive, settings.nb_alpha)
        r[rare] = 0.0
        model = LogisticRegression(
            C=settings.C,
            solver="liblinear",
            dual=True,  # far faster than the primal solver with more features than texts
            max_iter=settings.max_iter,
            random_state=settings.random_state,
        )
        model.fit(nb_weighted(x, r), positive)
        w = model.coef_[0]
        # NBSVM interpolation towards the mean weight magnitude, applied to the intercept too.
        magnitude = np.abs(w)
        over = settings.mean_over
        mean = magnitude.mean() if over is None else magnitude.sum() / max(over, 1)
        w = (1.0 - settings.beta) * mean + settings.beta * w
        coefs.append((w * r).astype(np.float32))
        intercepts.append(settings.beta * float(model.intercept_[0]))
    return np.vstack(coefs), np.asarray(intercepts, dtype=np.float32)


def _held_out_temperature(
    x: sp.csr_matrix, labels: Array, classes: Array, settings: NbSettings
) -> float:
    """The temperature that minimises the log loss, on 20% of the texts held out (stratified)
    from a model fitted on the other 80%. 1.0 when a class has too few texts to hold any out."""
    rng = np.random.default_rng(settings.random_state)
    held: list[Array] = []
    for label in classes:
        members = np.flatnonzero(labels == label)
        n_held = round(members.size * CALIBRATION_SHARE)
        if n_held < MIN_CALIBRATION_TEXTS or members.size - n_held < MIN_CALIBRATION_TEXTS:
            return 1.0
        held.append(rng.permutation(members)[:n_held])
    held_out = np.zeros(labels.size, dtype=bool)
    held_out[np.concatenate(held)] = True
    coef, intercept = fit_folded(x[~held_out], labels[~held_out], classes, settings)
    scores = np.asarray(x[held_out] @ coef.T, dtype=np.float64) + intercept
    truth = np.searchsorted(classes, labels[held_out])
    return fit_temperature(scores, truth)


def fit_temperature(scores: Array, truth: Array) -> float:
    """argmin_t of the log loss of sigmoid(t * s) (one score column) or softmax(t * S)."""
    if scores.shape[1] == 1:
        sign = np.where(truth == 1, 1.0, -1.0)
        margins = scores[:, 0] * sign

        def loss(log_t: float) -> float:
            return float(np.mean(np.logaddexp(0.0, -np.exp(log_t) * margins)))

    else:
        picked = scores[np.arange(truth.size), truth]

        def loss(log_t: float) -> float:
            t = np.exp(log_t)
            return float(np.mean(logsumexp(t * scores, axis=1) - t * picked))

    found = minimize_scalar(loss, bounds=(np.log(1e-2), np.log(1e2)), method="bounded")
    return float(np.exp(found.x))


def folded_logistic_regression(
    classes: Array, coef: Array, intercept: Array, c: float
) -> LogisticRegression:
    """A LogisticRegression fitted by hand, with the given classes and coefficients."""
    model = LogisticRegression(C=c, solver="liblinear")
    model.classes_ = classes
    model.coef_ = coef
    model.intercept_ = intercept
    model.n_features_in_ = coef.shape[1]
    model.n_iter_ = np.zeros(1, dtype=np.int32)
    return compact(model)


def compact(model: LogisticRegression) -> LogisticRegression:
    """float32 coefficients and intercepts, dense (see the module's docstring for why)."""
    model.coef_ = np.ascontiguousarray(dense_coef(model), dtype=np.float32)
    model.intercept_ = np.asarray(model.intercept_, dtype=np.float32)
    return model


def dense_coef(model: LogisticRegression) -> Array:
    """`model.coef_` as a dense array, whether it is stored dense or sparse."""
    coef: Any = model.coef_  # scikit-learn is untyped: a dense array or a sparse matrix
    if isinstance(coef, np.ndarray):
        return coef
    dense: Array = coef.toarray()
    return dense
