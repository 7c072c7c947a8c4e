"""HashedLinearClassifier: the Classifier port's prediction side over a serving file
(`hashed_linear.HashedLinearModel`), with numpy alone.

The texts are hashed (`text_hashing.NgramHasher`), weighted by the optional TF-IDF step and scored
by the coefficients, or scored by the stacked scorer of `nblr-ctx` (`context_scoring`) and
`nblr-lm` (`lm_scoring`); the probabilities are those `Pipeline.predict_proba` gives (the tests
compare them on real reviews).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sentiment.adapters.column_index import ColumnIndex
from sentiment.adapters.context_scoring import ContextScorer, StackedScorer
from sentiment.adapters.hashed_linear import HashedLinearModel, TfidfSettings
from sentiment.adapters.lm_scoring import LmStackScorer
from sentiment.adapters.name_masking import mask_names
from sentiment.adapters.text_hashing import NgramHasher, normalize_rows
from sentiment.domain.errors import ClassifierError, ModelLoadError
from sentiment.domain.model import ParamValue, Prediction
from sentiment.domain.ports import Classifier

Array = np.ndarray[Any, Any]


class HashedLinearClassifier(Classifier):
    """The Classifier port's prediction side over a HashedLinearModel, with numpy alone.

    It is loaded fitted and serves; it cannot be fitted again (`fit` raises ClassifierError).
    """

    def __init__(self, model: HashedLinearModel) -> None:
        self._model = model
        self._hasher = NgramHasher(model.hashing)
        # A contiguous (n_features, n_scores) matrix: coef[columns] gathers rows.
        self._coef = np.ascontiguousarray(model.coef, dtype=np.float32)
        if model.columns is not None:  # a zero row last: the row of every column not kept
            self._coef = np.vstack([self._coef, np.zeros((1, self._coef.shape[1]), np.float32)])
        self._intercept = np.asarray(model.intercept, dtype=np.float32)
        tfidf = model.tfidf
        self._tfidf = tfidf
        # Counts or binary values as they come out of hashing (no TF-IDF, no normalisation).
        self._plain = tfidf is None and model.hashing.norm is None
        # Binary plain features are 1s: no need to multiply the coefficients by them.
        self._weighted = not (self._plain and model.hashing.binary)
        lm = model.language_model
        # Where a hashed column's coefficients are (a vocabulary model), or None: row = column.
        self._index = (
            None
            if model.columns is None or lm is not None  # nblr-lm: its scorer has the index
            else ColumnIndex(model.columns, model.hashing.n_features)
        )
        self._context: StackedScorer | None = None
        if lm is not None and model.columns is not None:
            self._context = LmStackScorer(
                self._hasher,
                lm.ngram_max,
                model.columns,
                model.coef[:, 0],
                float(self._intercept[0]),
                lm.tables,
                lm.stacker,
            )
        if model.context is not None:
            if model.score_scale != 1.0:
                raise ModelLoadError("a context model has no score scale")
            hasher = NgramHasher(model.hashing, negation=model.context.negation)
            self._context = ContextScorer(
                hasher, self._coef[:, 0], float(self._intercept[0]), model.context.stacker
            )

    @classmethod
    def from_file(cls, path: Path) -> HashedLinearClassifier:
        return cls(HashedLinearModel.load(path))

    @property
    def model(self) -> HashedLinearModel:
        return self._model

    @property
    def model_type(self) -> str:
        return self._model.model_type

    @property
    def classes(self) -> tuple[str, ...]:
        return self._model.classes

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        return dict(self._model.hyperparameters)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        raise ClassifierError("a model loaded for serving cannot be fitted again")

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        probabilities = self.predict_proba(texts)
        classes = self._model.classes
        best = probabilities.argmax(axis=1).tolist()
        return [
            Prediction(label=classes[b], probabilities=dict(zip(classes, row, strict=True)))
            for b, row in zip(best, probabilities.tolist(), strict=True)
        ]

    def predict_proba(self, texts: Sequence[str]) -> Array:
        """Class probabilities, one row per text, columns in `classes` order (float32)."""
        try:
            given = self._texts(texts)
            if self._context is not None:  # what the scikit-learn estimator computes
                probabilities: Array = self._context.predict_proba(given)
                return probabilities
            scores = self._decision(given)
        except (ValueError, TypeError) as exc:
            raise ClassifierError(f"cannot vectorize the texts: {exc}") from exc
        if self._model.score_scale != 1.0:
            scores *= np.float32(self._model.score_scale)
        if scores.shape[1] == 1:
            positive = _sigmoid(scores[:, 0])
            return np.stack([1 - positive, positive], axis=1)
        return _softmax(scores)

    def decision_function(self, texts: list[str]) -> Array:
        """`x @ coef + intercept` for the hashed (and TF-IDF weighted) features of the texts,
        in float32 as scipy's sparse product computes it (a context model: its stacked score,
        float64)."""
        return self._decision(self._texts(texts))

    def _texts(self, texts: Sequence[str]) -> list[str]:
        """The texts as the model reads them: name-masked, if it masks names."""
        return mask_names(texts) if self._model.mask_names else list(texts)

    def _decision(self, texts: list[str]) -> Array:
        """`decision_function` of texts already masked (`_texts`)."""
        if self._context is not None:
            stacked: Array = self._context.decision_function(texts).reshape(-1, 1)
            return stacked
        if len(texts) == 1 and self._plain:
            columns, values = self._hasher.one(texts[0])
            return self._sum_rows(columns, values, np.array([0, columns.size]))
        data, indices, indptr = self._hasher.arrays(texts)
        if self._tfidf is not None:
            _tfidf_in_place(data, indices, indptr, self._tfidf)
        return self._sum_rows(indices, data, indptr)

    def _sum_rows(self, columns: Array, values: Array, indptr: Array) -> Array:
        """Per row of a CSR matrix: the float32 sum of value * coef[column], plus the
        intercept."""
        n_rows, n_scores = indptr.size - 1, self._coef.shape[1]
        # One score column (two classes): gather from a 1-D view, sum 1-D.
        coef = self._coef[:, 0] if n_scores == 1 else self._coef
        if self._index is not None:
            # Kept columns give their row; the others 0 (x + 0.0 is x: the sums do not change).
            products = coef.take(self._index.rows(columns), axis=0)  # -1: the zero row
        else:
            products = coef.take(columns, axis=0)  # (nnz,) or (nnz, n_scores)
        if self._weighted:
            products *= values if n_scores == 1 else values[:, None]
        scores = np.zeros((n_rows, n_scores), dtype=np.float32)
        flat = scores[:, 0] if n_scores == 1 else scores  # a view: writes land in scores
        if columns.size == 0:
            pass
        elif n_rows == 1:
            # A running float32 sum in column order, as scipy's CSR product: the same numbers.
            flat[0] = np.cumsum(products, axis=0)[-1]
        else:
            flat[:] = _row_sums(products, indptr)
        scores += self._intercept
        return scores


_ROWS_PER_BLOCK = 32


def _row_sums(products: Array, indptr: Array) -> Array:
    """The running float32 sum of every CSR row of `products`, in order, as scipy's sparse
    product computes it (so: the same numbers, not just close ones).

    Rows sorted by length are padded with zeros to the longest of each block of 32 and summed
    left to right with `cumsum` (sequential, unlike `sum`, which sums pairwise).
    """
    counts = np.diff(indptr)
    n_rows = counts.size
    sums = np.zeros((n_rows, *products.shape[1:]), dtype=products.dtype)
    order = np.argsort(counts, kind="stable")
    for first in range(0, n_rows, _ROWS_PER_BLOCK):
        rows = order[first : first + _ROWS_PER_BLOCK]
        lengths = counts[rows]
        width = int(lengths[-1])  # sorted: the longest row of the block is the last
        if width == 0:
            continue
        padded = np.zeros((rows.size, width, *products.shape[1:]), dtype=products.dtype)
        block_row = np.repeat(np.arange(rows.size), lengths)
        position = np.arange(block_row.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        source = np.repeat(indptr[rows], lengths) + position
        padded[block_row, position] = products[source]
        sums[rows] = np.cumsum(padded, axis=1)[:, -1]
    return sums


def _tfidf_in_place(data: Array, indices: Array, indptr: Array, tfidf: TfidfSettings) -> None:
    """TfidfTransformer.transform on CSR arrays: sublinear tf, idf weights, row norm."""
    if tfidf.sublinear_tf:
        np.log(data, out=data)
        data += 1.0
    if tfidf.idf is not None:
        data *= tfidf.idf[indices]
    if tfidf.norm is not None:
        normalize_rows(data, indptr, tfidf.norm)


def _sigmoid(x: Array) -> Array:
    """expit, computed in float64 (no overflow), returned in x's dtype. Rounded once, so a
    float32 result can be up to two float32 steps from scipy's float32 `expit`, which rounds
    `expf`, the sum and the division each (the scores themselves are scipy's to the bit)."""
    z = x.astype(np.float64)
    np.negative(z, out=z)
    np.minimum(z, 700.0, out=z)  # exp(700) is finite; a larger score rounds to 0 anyway
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    return z.astype(x.dtype)


def _softmax(scores: Array) -> Array:
    """As sklearn.utils.extmath.softmax: shift by the row maximum, exponentiate, normalise."""
    shifted: Array = scores - scores.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted
