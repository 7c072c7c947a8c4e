"""SklearnClassifier: a HashingVectorizer + linear model pipeline behind the Classifier port.

Four model types:

- `nblr` (fast and accurate): binary word 1-3grams hashed into 2**30 columns (almost free of
  collisions), of which `HashedVocabulary` keeps those seen in `min_df` training texts, weighted
  by their naive-Bayes log-count ratio, then logistic regression (see `nb_logistic`). The NB
  weights are folded into the coefficients after fitting, so the stored model is a
  `HashingVectorizer` + `HashedVocabulary` + `LogisticRegression` pipeline: no strings, float32
  coefficients, loadable by skops with a short list of trusted types.
- `nblr-ctx` (opt-in, two classes): `nblr` over two blocks of 2**n_features_log2 columns, plain
  and negation-marked n-grams, that also scores every sentence; a small logistic regression
  combines the review's and its sentences' scores (see `context_model`). Its pipeline is the one
  `NegationContextClassifier` step, a class of ours in the trusted skops types.
- `nblr-lm` (default, most accurate, two classes): `nblr`, plus two class-conditional n-gram
  language models (one per class, over the same hashed n-grams, in order); a small logistic
  regression weighs the NB-LR score against the language models' log-likelihood ratio (see
  `lm_model`, `class_lm`). Its pipeline is the one `NbLanguageModelClassifier` step, a class of
  ours in the trusted skops types.
- `tfidf-lr` (fast baseline): hashed word 1-2gram counts, sublinear TF-IDF, logistic regression.

With `mask_names` (every type's default), the pipeline's first step is a
`NameMasker`: mid-sentence capitalised names read as one placeholder (see `name_masking`), so the
model learns sentiment rather than the cast of the movies it was trained on.

All tokenize words plus `!` and `?`, drop the `br` of `<br />`, and hash into 2**n_features_log2
columns (`nblr` and `nblr-lm` then keep the columns they saw; the others use them all). Features
are computed by `text_hashing.NgramHasher`, which returns exactly the matrix
`HashingVectorizer.transform` does, several times faster; predictions go through a lean path
(features, one sparse product, sigmoid or softmax) that returns exactly what
`Pipeline.predict_proba` returns, without scikit-learn's per-call validation.

Each type's hyperparameters (defaults, ranges, parsing) are `hyperparameters`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.extmath import softmax
from sklearn.utils.sparsefuncs_fast import (
    inplace_csr_row_normalize_l1,
    inplace_csr_row_normalize_l2,
)

from sentiment.adapters.column_index import ColumnIndex
from sentiment.adapters.context_model import NegationContextClassifier
from sentiment.adapters.context_scoring import StackedScorer
from sentiment.adapters.hashed_vocabulary import HashedVocabulary
from sentiment.adapters.hyperparameters import DEFAULT_MODEL_TYPE, DEFAULTS, checked
from sentiment.adapters.lm_model import NbLanguageModelClassifier
from sentiment.adapters.name_masker import NameMasker
from sentiment.adapters.name_masking import mask_names, rule_key
from sentiment.adapters.nb_logistic import NbSettings, compact, dense_coef, fit_nb_logistic
from sentiment.adapters.text_hashing import NgramHasher, hasher_for
from sentiment.adapters.word_features import word_vectorizer
from sentiment.domain.errors import ClassifierError, NotFittedError
from sentiment.domain.model import ParamValue, Prediction
from sentiment.domain.ports import Classifier, ClassifierFactory

Array = np.ndarray[Any, Any]

# Model types fitted by one estimator of ours, whose stacker scores one class against the other:
# they fit two classes only.
STACKED_ESTIMATORS: dict[str, type[NegationContextClassifier | NbLanguageModelClassifier]] = {
    "nblr-ctx": NegationContextClassifier,
    "nblr-lm": NbLanguageModelClassifier,
}
TWO_CLASSES_ONLY = frozenset(STACKED_ESTIMATORS)


def _vectorizer(ngram_max: int, n_features_log2: int, binary: bool) -> HashingVectorizer:
    return word_vectorizer(ngram_max, n_features_log2, binary)


def _check_mask_rule(masker: NameMasker) -> None:
    """A pipeline's masker must have been fitted under the rule `mask_names` applies now: its
    model learnt from texts masked by that rule. One saved before maskers recorded their rule
    (`rule_`), or under another, would be served differently from how it was trained."""
    recorded = getattr(masker, "rule_", None)
    if recorded != rule_key():
        trained = "an unrecorded rule" if recorded is None else f"the rule {recorded}"
        raise ClassifierError(
            f"the pipeline was trained on names masked by {trained}; this code masks them by "
            f"{rule_key()}: train the model again"
        )


def model_type_of(pipeline: Pipeline) -> str | None:
    """The model type a pipeline's steps show (those `SklearnClassifier.fit` builds tell each
    type apart); None when they do not show one (a pipeline built elsewhere)."""
    steps = [step for _, step in pipeline.steps]
    if steps and isinstance(steps[0], NameMasker):
        steps = steps[1:]
    if len(steps) == 1:
        for model_type, estimator in STACKED_ESTIMATORS.items():
            if isinstance(steps[0], estimator):
                return model_type
    vocabulary = any(isinstance(step, HashedVocabulary) for step in steps)
    tfidf = any(isinstance(step, TfidfTransformer) for step in steps)
    if len(steps) == 3 and vocabulary != tfidf:
        return "nblr" if vocabulary else "tfidf-lr"
    return None


class SklearnClassifier(Classifier):
    """A scikit-learn text pipeline. Build unfitted from a model type, or wrap a fitted one."""

    def __init__(
        self,
        model_type: str = DEFAULT_MODEL_TYPE,
        hyperparameters: Mapping[str, ParamValue] | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        self._params = checked(model_type, hyperparameters or {})
        self._model_type = model_type
        self._pipeline: Pipeline | None = None
        self._classes: tuple[str, ...] = ()
        # What the lean prediction path needs, set from the fitted pipeline by `_use`.
        self._hasher: NgramHasher | None = None
        self._column_index: ColumnIndex | None = None
        self._middle: list[TfidfTransformer] = []
        self._vocabulary: HashedVocabulary | None = None  # with TF-IDF after it (see _features)
        self._coef_t: Array = np.zeros((0, 0), dtype=np.float32)
        self._intercept: Array = np.zeros(0, dtype=np.float32)
        self._binary = False
        # The hasher that scores single texts without a sparse matrix, when exact (see _scores).
        self._one_by_one: NgramHasher | None = None
        # nblr-ctx and nblr-lm: the whole model scores (see context_scoring, lm_scoring).
        self._context: StackedScorer | None = None
        if pipeline is not None:
            shown = model_type_of(pipeline)
            if shown is not None and shown != model_type:
                raise ClassifierError(f"the pipeline is a {shown} model, not {model_type}")
            self._use(pipeline)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, model_type: str | None) -> SklearnClassifier:
        """The classifier of a fitted pipeline, of the model type recorded beside it or, when
        none is, of the type its steps show (`model_type_of`); never a guessed one."""
        known = model_type or model_type_of(pipeline)
        if known is None:
            steps = [type(step).__name__ for _, step in pipeline.steps]
            raise ClassifierError(f"no model type recorded, and its steps {steps} show none")
        return cls(known, pipeline=pipeline)

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
        """The hashing of the texts (for nblr-ctx: of its plain block)."""
        step = self.pipeline[1 if self.masks_names else 0]
        if isinstance(step, NegationContextClassifier | NbLanguageModelClassifier):
            return step.block_vectorizer()
        assert isinstance(step, HashingVectorizer)
        return step

    @property
    def masks_names(self) -> bool:
        """Whether the texts' names are masked (`name_masking`) before anything else."""
        return bool(self._params["mask_names"])

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        return dict(self._params)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        if len(texts) != len(labels):
            raise ClassifierError(f"{len(texts)} texts but {len(labels)} labels")
        classes = sorted({str(label) for label in labels})
        if len(classes) < 2:
            raise ClassifierError("need at least two classes to fit")
        if self._model_type in TWO_CLASSES_ONLY and len(classes) != 2:
            shown = ", ".join(map(repr, classes[:5])) + (", ..." if len(classes) > 5 else "")
            others = " or ".join(sorted(set(DEFAULTS) - TWO_CLASSES_ONLY))
            raise ClassifierError(
                f"{self._model_type} fits exactly two classes, and the data has {len(classes)} "
                f"({shown}): --model-type {others} fits more"
            )
        y = np.asarray([str(label) for label in labels], dtype=str)
        x = mask_names(texts) if self.masks_names else list(texts)
        try:
            if self._model_type == "nblr":
                pipeline = self._fit_nblr(x, y)
            elif self._model_type in STACKED_ESTIMATORS:
                pipeline = self._fit_stacked(x, y)
            else:
                pipeline = self._fit_tfidf(x, y)
        except (ValueError, TypeError, MemoryError) as exc:
            raise ClassifierError(f"fitting {self._model_type} failed: {exc}") from exc
        if self.masks_names:
            # Fitted, so that it records the rule the model was trained on.
            pipeline.steps.insert(0, ("names", NameMasker().fit(x)))
        self._use(pipeline)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        probabilities = self.predict_proba(texts)
        classes = self._classes
        best = probabilities.argmax(axis=1).tolist()
        return [
            Prediction(label=classes[b], probabilities=dict(zip(classes, row, strict=True)))
            for b, row in zip(best, probabilities.tolist(), strict=True)
        ]

    def predict_proba(self, texts: Sequence[str]) -> Array:
        """Class probabilities, one row per text, columns in `classes` order.

        Equal to `self.pipeline.predict_proba(texts)`, computed without its validation overhead.
        """
        if self._pipeline is None:
            raise NotFittedError("the classifier has not been fitted")
        try:
            scores = self._scores(list(texts))
        except (ValueError, TypeError) as exc:
            raise ClassifierError(f"cannot vectorize the texts: {exc}") from exc
        if self._context is not None:  # probabilities of its own (the serving file's too)
            return scores
        if scores.shape[1] == 1:  # binary: as LogisticRegression.predict_proba
            positive: Array = scores.reshape(-1)
            expit(positive, out=positive)
            return np.stack([1 - positive, positive], axis=1)
        result: Array = softmax(scores, copy=False)
        return result

    # -- the lean prediction path --------------------------------------------------------

    def _use(self, pipeline: Pipeline) -> None:
        """Adopt a fitted pipeline and precompute what the lean prediction path needs."""
        steps = [step for _, step in pipeline.steps]
        # A leading NameMasker masks the texts; the pipeline, not a setting, says so.
        self._params["mask_names"] = bool(steps) and isinstance(steps[0], NameMasker)
        if self._params["mask_names"]:
            _check_mask_rule(steps[0])
            steps = steps[1:]
        if len(steps) == 1 and isinstance(
            steps[0], NegationContextClassifier | NbLanguageModelClassifier
        ):
            if not hasattr(steps[0], "coef_"):
                raise ClassifierError(f"expected a fitted {type(steps[0]).__name__}")
            self._pipeline = pipeline
            self._context = steps[0].scorer()
            self._classes = tuple(str(c) for c in steps[0].classes_)
            return
        vectorizer, model = steps[0], steps[-1]
        vocabulary = steps[1] if len(steps) > 2 and isinstance(steps[1], HashedVocabulary) else None
        middle = steps[1 + (vocabulary is not None) : -1]
        if not (
            isinstance(vectorizer, HashingVectorizer)
            and isinstance(model, LogisticRegression)
            and all(isinstance(step, TfidfTransformer) for step in middle)
            and hasattr(model, "coef_")
            and (vocabulary is None or hasattr(vocabulary, "columns_"))
        ):
            raise ClassifierError(
                "expected a fitted HashingVectorizer [+ HashedVocabulary] [+ TfidfTransformer] "
                f"+ LogisticRegression pipeline, got {[type(s).__name__ for s in steps]}"
            )
        dense = dense_coef(model)
        self._pipeline = pipeline
        self._hasher = hasher_for(vectorizer)
        self._column_index = (
            None
            if vocabulary is None
            else ColumnIndex(vocabulary.columns_, int(vectorizer.n_features))
        )
        self._middle = middle
        self._vocabulary = vocabulary
        # (n_features, n_scores): the layout `X @ coef_.T` multiplies with.
        self._coef_t = np.ascontiguousarray(dense.T)
        if vocabulary is not None:  # a zero row last: the row of every hashed column not kept
            zero = np.zeros((1, self._coef_t.shape[1]), dtype=self._coef_t.dtype)
            self._coef_t = np.vstack([self._coef_t, zero])
        self._intercept = np.asarray(model.intercept_)
        self._binary = bool(vectorizer.binary)
        self._one_by_one = (
            self._hasher
            if not middle
            and vectorizer.norm is None
            and self._coef_t.dtype == np.float32
            and np.dtype(vectorizer.dtype) == np.float32
            else None
        )
        self._classes = tuple(str(c) for c in model.classes_)

    def _scores(self, texts: list[str]) -> Array:
        """`X @ coef_.T + intercept_`, as LinearClassifierMixin.decision_function computes it.

        nblr-ctx and nblr-lm: their class probabilities (their scorer's `predict_proba`)."""
        if self.masks_names:
            texts = mask_names(texts)
        if self._context is not None:
            return self._context.predict_proba(texts)
        if len(texts) == 1 and self._one_by_one is not None:
            # One text: its columns and values, without building a sparse matrix. A running sum
            # in float32, in column order, as scipy's CSR product does: the very same numbers.
            columns, values = self._one_by_one.one(texts[0])
            if self._column_index is not None:  # x + 0.0 is x: the unkept columns add nothing
                columns = self._column_index.rows(columns)  # -1: the zero row
            products = self._coef_t[columns]
            if not self._binary:
                products *= values[:, None]
            scores: Array = np.zeros((1, self._coef_t.shape[1]), dtype=products.dtype)
            if columns.size:
                scores[0] = np.cumsum(products, axis=0)[-1]
            scores += self._intercept
            return scores
        product: Array = self._features(texts) @ self._coef_t + self._intercept
        return product

    def _features(self, texts: list[str]) -> sp.csr_matrix:
        vectorizer = self.vectorizer
        x = self._hasher.transform(texts) if self._hasher else vectorizer.transform(texts)
        if self._vocabulary is not None and self._middle:
            # TF-IDF weighs and normalises the kept columns only, as after the vocabulary step
            # (its idf has one weight per kept column); the zero row last is never referenced.
            kept = self._vocabulary.transform(x)
            for step in self._middle:
                kept = _tfidf(step, kept) if self._hasher else sp.csr_matrix(step.transform(kept))
            return sp.csr_matrix(
                (kept.data, kept.indices, kept.indptr),
                shape=(kept.shape[0], self._coef_t.shape[0]),
            )
        if self._column_index is not None:
            # Every column to its kept row, or to the zero row last (x + 0.0 is x: each row
            # sums the kept columns' products in the same order as over the vocabulary's output).
            rows = self._column_index.rows(x.indices)
            rows[rows < 0] = self._coef_t.shape[0] - 1
            x = sp.csr_matrix(
                (x.data, rows.astype(np.int32), x.indptr), shape=(x.shape[0], self._coef_t.shape[0])
            )
        for step in self._middle:
            x = _tfidf(step, x) if self._hasher else step.transform(x)
        return x

    # -- training procedures -------------------------------------------------------------

    def _int(self, name: str) -> int:
        return int(self._params[name])

    def _float(self, name: str) -> float:
        return float(self._params[name])

    def _hashed(self, texts: list[str], binary: bool) -> tuple[HashingVectorizer, sp.csr_matrix]:
        vectorizer = _vectorizer(self._int("ngram_max"), self._int("n_features_log2"), binary)
        hasher = hasher_for(vectorizer)
        x = hasher.transform(texts) if hasher else sp.csr_matrix(vectorizer.transform(texts))
        return vectorizer, x

    def _fit_nblr(self, texts: list[str], labels: Array) -> Pipeline:
        vectorizer, x = self._hashed(texts, binary=True)
        vocabulary = HashedVocabulary(min_df=self._int("min_df")).fit(x)
        settings = NbSettings(
            C=self._float("C"),
            nb_alpha=self._float("nb_alpha"),
            beta=self._float("beta"),
            min_df=self._int("min_df"),
            max_iter=self._int("max_iter"),
            calibrate=bool(self._params["calibrate"]),
            # The interpolation's mean weight over every n-gram seen, as without the vocabulary.
            mean_over=vocabulary.n_seen_,
        )
        model = fit_nb_logistic(vocabulary.transform(x), labels, settings)
        return Pipeline(
            [("vectorizer", vectorizer), ("vocabulary", vocabulary), ("classifier", model)]
        )

    def _fit_stacked(self, texts: list[str], labels: Array) -> Pipeline:
        """nblr-ctx and nblr-lm: one estimator of ours, whose parameters are the hyperparameters
        (checked and converted by `hyperparameters.checked`)."""
        estimator = STACKED_ESTIMATORS[self._model_type]
        arguments: dict[str, Any] = dict(self._params)
        del arguments["mask_names"]  # the pipeline's first step, not the estimator's
        model = estimator(**arguments)
        model.fit(texts, labels)
        return Pipeline([("classifier", model)])

    def _fit_tfidf(self, texts: list[str], labels: Array) -> Pipeline:
        vectorizer, counts = self._hashed(texts, binary=False)
        tfidf = TfidfTransformer(sublinear_tf=True)
        x = tfidf.fit_transform(counts)
        model = LogisticRegression(
            C=self._float("C"),
            solver="liblinear" if len(set(labels.tolist())) == 2 else "lbfgs",
            dual=len(set(labels.tolist())) == 2,
            max_iter=self._int("max_iter"),
            random_state=0,
        )
        model.fit(x, labels)
        compact(model)
        tfidf.idf_ = tfidf.idf_.astype(np.float32)
        return Pipeline([("vectorizer", vectorizer), ("tfidf", tfidf), ("classifier", model)])


def _tfidf(step: TfidfTransformer, x: sp.csr_matrix) -> sp.csr_matrix:
    """`step.transform(x)` for a fresh CSR matrix `x` it may modify: the same operations in the
    same order as TfidfTransformer.transform, without its input validation."""
    if step.sublinear_tf:
        np.log(x.data, x.data)
        x.data += 1.0
    if hasattr(step, "idf_"):
        x.data *= step.idf_[x.indices]
    if step.norm == "l2":
        inplace_csr_row_normalize_l2(x)
    elif step.norm == "l1":
        inplace_csr_row_normalize_l1(x)
    elif step.norm is not None:
        return sp.csr_matrix(step.transform(x))
    return x


class SklearnClassifierFactory(ClassifierFactory):
    """Makes unfitted SklearnClassifiers by model type."""

    @property
    def model_types(self) -> tuple[str, ...]:
        return tuple(sorted(DEFAULTS))

    def create(
        self, model_type: str, hyperparameters: Mapping[str, ParamValue] | None = None
    ) -> Classifier:
        return SklearnClassifier(model_type, hyperparameters)
