"""SklearnClassifier: a HashingVectorizer + linear model pipeline behind the Classifier port.

Two model types:

- `tfidf-lr` (fast baseline): hashed word n-gram counts, sublinear TF-IDF, LogisticRegression.
- `nblr` (default, accurate): binary hashed word n-grams weighted by their naive-Bayes
  log-count ratio, then LogisticRegression (NBSVM-style, Wang & Manning 2012). The NB weights
  are folded into the coefficients after fitting, so the stored model is a plain
  HashingVectorizer + LogisticRegression: no vocabulary, no custom types, loadable by skops
  with a short list of trusted scikit-learn types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sentiment.domain.errors import ClassifierError, NotFittedError
from sentiment.domain.model import ParamValue, Prediction
from sentiment.domain.ports import Classifier, ClassifierFactory

# Words, plus "!" and "?" as tokens of their own: they carry sentiment.
TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"  # noqa: S105 - a regex, not a password
# "<br />" in IMDB reviews tokenizes to "br": drop it so it forms no n-grams.
STOP_WORDS = ("br",)

DEFAULTS: dict[str, dict[str, ParamValue]] = {
    "tfidf-lr": {
        "ngram_max": 2,
        "n_features_log2": 20,
        "C": 10.0,
        "max_iter": 1000,
    },
    "nblr": {
        "ngram_max": 3,
        "n_features_log2": 22,
        "C": 1.0,
        "nb_alpha": 1.0,
        "beta": 1.0,
        "max_iter": 1000,
    },
}
DEFAULT_MODEL_TYPE = "nblr"


def _vectorizer(ngram_max: int, n_features_log2: int, binary: bool) -> HashingVectorizer:
    return HashingVectorizer(
        token_pattern=TOKEN_PATTERN,
        stop_words=list(STOP_WORDS),
        ngram_range=(1, ngram_max),
        n_features=2**n_features_log2,
        alternate_sign=False,
        binary=binary,
        norm=None,
        dtype=np.float32,
    )


class SklearnClassifier(Classifier):
    """A scikit-learn text pipeline. Build unfitted from a model type, or wrap a fitted one."""

    def __init__(
        self,
        model_type: str = DEFAULT_MODEL_TYPE,
        hyperparameters: Mapping[str, ParamValue] | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        if model_type not in DEFAULTS:
            raise ClassifierError(
                f"unknown model type {model_type!r}; known: {', '.join(sorted(DEFAULTS))}"
            )
        unknown = set(hyperparameters or {}) - set(DEFAULTS[model_type])
        if unknown:
            raise ClassifierError(
                f"unknown hyperparameter(s) for {model_type}: {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(DEFAULTS[model_type]))}"
            )
        self._model_type = model_type
        self._params: dict[str, ParamValue] = {**DEFAULTS[model_type], **(hyperparameters or {})}
        self._pipeline = pipeline
        self._classes: tuple[str, ...] = ()
        if pipeline is not None:
            self._classes = tuple(str(c) for c in pipeline[-1].classes_)

    @property
    def model_type(self) -> str:
        return self._model_type

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def pipeline(self) -> Pipeline:
        """The fitted scikit-learn pipeline (text in, probabilities out)."""
        if self._pipeline is None:
            raise NotFittedError("the classifier has not been fitted")
        return self._pipeline

    @property
    def vectorizer(self) -> HashingVectorizer:
        step = self.pipeline[0]
        assert isinstance(step, HashingVectorizer)
        return step

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        return dict(self._params)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        if len(set(labels)) < 2:
            raise ClassifierError("need at least two classes to fit")
        try:
            if self._model_type == "nblr":
                self._pipeline = self._fit_nblr(list(texts), np.asarray(labels, dtype=object))
            else:
                self._pipeline = self._fit_tfidf(list(texts), list(labels))
        except (ValueError, MemoryError) as exc:
            raise ClassifierError(f"fitting {self._model_type} failed: {exc}") from exc
        self._classes = tuple(str(c) for c in self._pipeline[-1].classes_)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        try:
            probabilities = self.pipeline.predict_proba(list(texts))
        except SklearnNotFittedError as exc:
            raise NotFittedError(str(exc)) from exc
        classes = self._classes
        best = probabilities.argmax(axis=1).tolist()
        return [
            Prediction(label=classes[b], probabilities=dict(zip(classes, row, strict=True)))
            for b, row in zip(best, probabilities.tolist(), strict=True)
        ]

    # -- training procedures -------------------------------------------------------------

    def _int(self, name: str) -> int:
        return int(self._params[name])

    def _float(self, name: str) -> float:
        return float(self._params[name])

    def _fit_tfidf(self, texts: list[str], labels: list[str]) -> Pipeline:
        pipeline = Pipeline(
            [
                (
                    "vectorizer",
                    _vectorizer(self._int("ngram_max"), self._int("n_features_log2"), False),
                ),
                ("tfidf", TfidfTransformer(sublinear_tf=True)),
                (
                    "classifier",
                    LogisticRegression(C=self._float("C"), max_iter=self._int("max_iter")),
                ),
            ]
        )
        pipeline.fit(texts, labels)
        return pipeline

    def _fit_nblr(self, texts: list[str], labels: np.ndarray[Any, Any]) -> Pipeline:
        vectorizer = _vectorizer(self._int("ngram_max"), self._int("n_features_log2"), True)
        x = sp.csr_matrix(vectorizer.transform(texts))
        classes = np.array(sorted(set(labels.tolist())), dtype=object)
        # One binary problem for two classes, one-vs-rest for more.
        targets = classes[1:] if len(classes) == 2 else classes
        coefs: list[np.ndarray[Any, Any]] = []
        intercepts: list[float] = []
        for target in targets:
            positive = labels == target
            ratio = _log_count_ratio(x, positive, self._float("nb_alpha"))
            weighted = x.copy()
            weighted.data *= ratio[weighted.indices]
            model = LogisticRegression(
                C=self._float("C"),
                max_iter=self._int("max_iter"),
                solver="liblinear",
            )
            model.fit(weighted, positive)
            w = model.coef_[0]
            beta = self._float("beta")
            # NBSVM interpolation, applied to the intercept as well.
            w = (1.0 - beta) * np.abs(w).mean() + beta * w
            coefs.append((w * ratio).astype(np.float32))
            intercepts.append(float(beta * model.intercept_[0]))
        folded = LogisticRegression(C=self._float("C"))
        folded.classes_ = classes.astype(str)
        folded.coef_ = np.vstack(coefs)
        folded.intercept_ = np.asarray(intercepts, dtype=np.float32)
        folded.n_features_in_ = x.shape[1]
        return Pipeline([("vectorizer", vectorizer), ("classifier", folded)])


def _log_count_ratio(
    x: sp.csr_matrix, positive: np.ndarray[Any, Any], alpha: float
) -> np.ndarray[Any, Any]:
    """Naive-Bayes log-count ratio r = log((p/|p|) / (q/|q|)) of binary features."""
    p = alpha + np.asarray(x[positive].sum(axis=0)).ravel()
    q = alpha + np.asarray(x[~positive].sum(axis=0)).ravel()
    r: np.ndarray[Any, Any] = np.log((p / p.sum()) / (q / q.sum()))
    return r.astype(np.float32)


class SklearnClassifierFactory(ClassifierFactory):
    """Makes unfitted SklearnClassifiers by model type."""

    @property
    def model_types(self) -> tuple[str, ...]:
        return tuple(sorted(DEFAULTS))

    def create(
        self, model_type: str, hyperparameters: Mapping[str, ParamValue] | None = None
    ) -> Classifier:
        return SklearnClassifier(model_type, hyperparameters)


def parse_hyperparameters(pairs: Sequence[str]) -> dict[str, ParamValue]:
    """`["C=2", "ngram_max=3"]` -> `{"C": 2.0, "ngram_max": 3}` (ints, floats, bools, strings)."""
    parsed: dict[str, ParamValue] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ClassifierError(f"hyperparameter {pair!r} is not NAME=VALUE")
        parsed[key.strip()] = _coerce(raw.strip())
    return parsed


def _coerce(raw: str) -> ParamValue:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if re.fullmatch(r"[+-]?\d+", raw):
        return int(raw)
    try:
        return float(raw)
    except ValueError:
        return raw
