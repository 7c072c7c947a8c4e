"""The serving file of a linear model over hashed word n-grams: pickle-free, read with numpy alone.

The serving artifact that registration logs next to the MLflow model (`serving.npz`): the
hashing settings, the optional TF-IDF step and the coefficients of a fitted
`HashingVectorizer [+ TfidfTransformer] + LogisticRegression` pipeline, as plain arrays. Loading
it imports neither scikit-learn, scipy, skops nor MLflow; `hashed_linear_classifier` predicts
with it the probabilities `Pipeline.predict_proba` gives.

File format (`numpy.savez_compressed`, read with `allow_pickle=False`, so it cannot run code):

- `header`: UTF-8 JSON as uint8: `{"format": "sentiment.hashed-linear", "format_version": 1,
  "model_type", "classes", "hashing": HashingSettings.to_json(), "tfidf": null |
  {"sublinear_tf", "norm", "has_idf"}, "score_scale", "hyperparameters", "n_scores"}`;
- `coef_features` (int32) and `coef_scores` (int32), `coef_values` (float32): the non-zero
  coefficients as (feature, score column, value); `intercept` (float32, one per score column);
- `idf` (float32, one per feature) when `tfidf.has_idf`.

Scores are `(x @ coef + intercept) * score_scale`; one score column means two classes and
`sigmoid`, more mean `softmax`, as `LogisticRegression.predict_proba` does.

Format version 2 is the `nblr-ctx` model (`context_model`): the header has a `"context"` object,
`{"negation": NegationMarking.to_json(), "stacker": Stacker.to_json()}`, the coefficients span
two blocks of `hashing.n_features` columns (plain and negation-marked n-grams) and the texts are
scored by `context_scoring.ContextScorer`, as the scikit-learn estimator does.

Format version 3 is a model with a hashed vocabulary (`hashed_vocabulary`: `nblr` hashes into
2**30 columns and keeps those seen in training): the header has `"vocabulary": true`, and the
coefficients are only those of the kept columns, so a reader must not make them dense over
`hashing.n_features`; every other column scores 0. Models with neither are still written as
version 1. Readers refuse versions newer than theirs.

Format version 4 is the `nblr-lm` model (`lm_model`): a version-3 vocabulary model whose header
also has `"language_model": {"ngram_max", "order", "tokens", "vocabulary", "discount", "stacker":
Stacker.to_json()}`, with the arrays `lm_columns_<n>` (int32, sorted), `lm_counts_<n>` (uint16 or
uint32, (len, 2)) and, below the top order, `lm_histories_<n>` (likewise, (len, 4)) of the class
language models for each order n (`class_lm.LanguageModelTables`); `hashing` gives n-grams up to
max(ngram_max, order) tokens, the NB-LR coefficients read those up to `ngram_max`, and the texts
are scored by `lm_scoring.LmStackScorer`, as the scikit-learn estimator does.

Format version 5 is a model of any version 1-4 whose texts are first name-masked
(`name_masking`): its header is that version's, with `"format_version": 5`, `"base_version"`
(the version it extends) and `"mask_names": {"pattern", "placeholder", "version"}`, which must be
the rule this reader applies (a file written with another rule is refused, not served differently).
Readers that predate masking refuse the file instead of serving it unmasked.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sentiment.adapters.class_lm import LanguageModelTables
from sentiment.adapters.context_scoring import N_AGGREGATES, Stacker
from sentiment.adapters.lm_scoring import N_INPUTS
from sentiment.adapters.name_masking import rule
from sentiment.adapters.negation import NegationMarking
from sentiment.adapters.text_hashing import HashingSettings, NgramHasher
from sentiment.domain.errors import ModelLoadError
from sentiment.domain.model import ParamValue

Array = np.ndarray[Any, Any]

FORMAT = "sentiment.hashed-linear"
PLAIN_VERSION = 1  # written for models with neither context nor vocabulary (all readers)
CONTEXT_VERSION = 2  # nblr-ctx
VOCABULARY_VERSION = 3  # coefficients of the listed columns only
LANGUAGE_MODEL_VERSION = 4  # nblr-lm
MASKED_VERSION = 5  # any of the above, with name masking
FILE_NAME = "serving.npz"
_ZIP_MAGIC = b"PK\x03\x04"  # how every .npz starts
_ARRAYS = {"header", "coef_features", "coef_scores", "coef_values", "intercept", "idf"}
_MAX_ORDER = 5
_LM_KINDS = ("columns", "counts", "histories")
_LM_ARRAYS = {f"lm_{kind}_{n}" for kind in _LM_KINDS for n in range(1, _MAX_ORDER + 1)}
_LM_KEYS = {"ngram_max", "order", "tokens", "vocabulary", "discount", "stacker"}
_MAX_SCORES = 1024


@dataclass(frozen=True)
class TfidfSettings:
    """The TfidfTransformer step between hashing and the linear model, if any."""

    sublinear_tf: bool = False
    norm: str | None = "l2"
    idf: Array | None = None  # float32, one per feature


@dataclass(frozen=True)
class ContextSettings:
    """nblr-ctx: negation marking (a second block of columns) and the sentence stacker."""

    negation: NegationMarking
    stacker: Stacker


@dataclass(frozen=True)
class LanguageModelSettings:
    """nblr-lm: the class language models, the stacker, and the NB-LR's longest n-grams."""

    tables: LanguageModelTables
    stacker: Stacker
    ngram_max: int


@dataclass(frozen=True)
class HashedLinearModel:
    """Everything needed to score texts: hashing, optional TF-IDF, coefficients, classes."""

    model_type: str
    classes: tuple[str, ...]
    hashing: HashingSettings
    coef: Array  # (n_features, n_scores) float32, dense; with `columns`: one row per column
    intercept: Array  # (n_scores,) float32
    tfidf: TfidfSettings | None = None
    score_scale: float = 1.0
    hyperparameters: Mapping[str, ParamValue] = field(default_factory=dict)
    context: ContextSettings | None = None
    # The hashed columns that `coef`'s rows belong to (sorted int32), or None: one per column.
    columns: Array | None = None
    language_model: LanguageModelSettings | None = None
    mask_names: bool = False  # texts are name-masked (`name_masking`) before hashing

    def __post_init__(self) -> None:
        if self.columns is not None and (
            self.context is not None
            or self.tfidf is not None
            or self.columns.shape != (self.coef.shape[0],)
        ):
            raise ValueError("a vocabulary: one column per coefficient row, no context, no TF-IDF")
        if self.language_model is not None and (
            self.columns is None or self.coef.shape[1] != 1 or self.score_scale != 1.0
        ):
            raise ValueError("a language model: with a vocabulary, two classes, no score scale")

    def save(self, path: Path) -> None:
        """Write the model file (see the module docstring for the format)."""
        rows, scores = np.nonzero(self.coef)
        values = self.coef[rows, scores].astype(np.float32)
        features = rows if self.columns is None else self.columns[rows]
        version = PLAIN_VERSION
        if self.context is not None:
            version = CONTEXT_VERSION
        elif self.language_model is not None:
            version = LANGUAGE_MODEL_VERSION
        elif self.columns is not None:
            version = VOCABULARY_VERSION
        header: dict[str, Any] = {
            "format": FORMAT,
            "format_version": version,
            "model_type": self.model_type,
            "classes": list(self.classes),
            "hashing": self.hashing.to_json(),
            "tfidf": None
            if self.tfidf is None
            else {
                "sublinear_tf": self.tfidf.sublinear_tf,
                "norm": self.tfidf.norm,
                "has_idf": self.tfidf.idf is not None,
            },
            "score_scale": self.score_scale,
            "n_scores": int(self.coef.shape[1]),
            "hyperparameters": dict(self.hyperparameters),
        }
        if self.mask_names:
            header["format_version"] = MASKED_VERSION
            header["base_version"] = version
            header["mask_names"] = rule()
        if self.columns is not None:
            header["vocabulary"] = True
        if self.context is not None:
            header["context"] = {
                "negation": self.context.negation.to_json(),
                "stacker": self.context.stacker.to_json(),
            }
        if self.language_model is not None:
            lm = self.language_model
            header["language_model"] = {
                "ngram_max": lm.ngram_max,
                "order": lm.tables.order,
                "tokens": lm.tables.tokens.tolist(),
                "vocabulary": lm.tables.vocabulary,
                "discount": lm.tables.discount,
                "stacker": lm.stacker.to_json(),
            }
        arrays: dict[str, Array] = {
            "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
            "coef_features": features.astype(np.int32),
            "coef_scores": scores.astype(np.int32),
            "coef_values": values,
            "intercept": np.asarray(self.intercept, dtype=np.float32),
        }
        if self.tfidf is not None and self.tfidf.idf is not None:
            arrays["idf"] = np.asarray(self.tfidf.idf, dtype=np.float32)
        if self.language_model is not None:
            tables = self.language_model.tables
            for n in range(1, tables.order + 1):
                arrays[f"lm_columns_{n}"] = tables.columns[n - 1]
                arrays[f"lm_counts_{n}"] = tables.counts[n - 1]
                if n < tables.order:
                    arrays[f"lm_histories_{n}"] = tables.histories[n - 1]
        with path.open("wb") as handle:
            np.savez_compressed(handle, allow_pickle=False, **arrays)

    @classmethod
    def load(cls, path: Path) -> HashedLinearModel:
        """Read a model file. Raises ModelLoadError when it is unreadable or malformed (or
        declares sizes that do not fit in memory: MemoryError would escape every caller)."""
        where = f"serving model file {path.name}"
        try:
            # Anything but a zip archive would go to numpy's pickle branch, refused with a hint to
            # load it unsafely: no operator should read that about a corrupt file.
            with path.open("rb") as handle:
                if handle.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
                    raise ModelLoadError(f"cannot read {where}: not an .npz (zip) archive")
            with np.load(path, allow_pickle=False) as archive:
                names = set(archive.files)
                if not {"header", "coef_features", "coef_scores", "coef_values"} <= names or (
                    names - _ARRAYS - _LM_ARRAYS
                ):
                    raise ModelLoadError(f"{where}: unexpected arrays {sorted(names)}")
                arrays = {name: archive[name] for name in names}
        except ModelLoadError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ModelLoadError(f"cannot read {where}: {exc}") from exc
        except MemoryError as exc:  # an array whose header declares an absurd shape
            raise ModelLoadError(f"cannot read {where}: {exc}") from exc
        try:
            return cls._from_arrays(arrays)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelLoadError(f"{where} is malformed: {exc}") from exc
        except MemoryError as exc:  # a header whose sizes ask for more memory than there is
            raise ModelLoadError(f"{where} is malformed or too large: {exc}") from exc

    @classmethod
    def _from_arrays(cls, arrays: dict[str, Array]) -> HashedLinearModel:
        header = json.loads(arrays["header"].astype(np.uint8).tobytes().decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        version = header.get("format_version")
        versions = (PLAIN_VERSION, CONTEXT_VERSION, VOCABULARY_VERSION, LANGUAGE_MODEL_VERSION)
        # An integer: JSON's `true` and `3.0` equal 1 and 3 in Python, but name no version.
        if (
            header.get("format") != FORMAT
            or type(version) is not int
            or version not in (*versions, MASKED_VERSION)
        ):
            raise ValueError(
                f"format {header.get('format')!r} version {version!r}, "
                f"expected {FORMAT!r} version {', '.join(map(str, (*versions, MASKED_VERSION)))}"
            )
        masked = version == MASKED_VERSION
        if masked:
            version = header.get("base_version")
            if type(version) is not int or version not in versions:
                raise ValueError(f"version {MASKED_VERSION} extends version {version!r}")
            _check_mask_rule(header.get("mask_names"))
        elif "mask_names" in header or "base_version" in header:
            raise ValueError(f"version {version} masks no names")
        hashing = HashingSettings.from_json(header["hashing"])
        vocabulary = version in (VOCABULARY_VERSION, LANGUAGE_MODEL_VERSION)
        if header.get("vocabulary", False) is not vocabulary:
            raise ValueError(f"version {version} with vocabulary {header.get('vocabulary')!r}")
        if vocabulary and (header["tfidf"] is not None or "context" in header):
            raise ValueError("a vocabulary model has no TF-IDF and no context")
        language_model = None
        if version == LANGUAGE_MODEL_VERSION:
            language_model = _language_model(header, arrays, hashing)
        elif "language_model" in header or any(name.startswith("lm_") for name in arrays):
            raise ValueError(f"version {version} has no language model")
        context = None
        if version == CONTEXT_VERSION:
            spec = header.get("context")
            if not isinstance(spec, dict) or set(spec) != {"negation", "stacker"}:
                raise ValueError("context must have exactly the keys negation, stacker")
            context = ContextSettings(
                NegationMarking.from_json(spec["negation"]), Stacker.from_json(spec["stacker"])
            )
            if context.stacker.size != N_AGGREGATES:
                raise ValueError(f"the stacker takes {context.stacker.size} inputs, not 8")
            if header["tfidf"] is not None or not hashing.binary or hashing.norm is not None:
                raise ValueError("a context model has binary hashed features, without TF-IDF")
            NgramHasher(hashing, negation=context.negation)  # validates (n_features <= 2**30)
        elif "context" in header:
            raise ValueError(f"version {PLAIN_VERSION} has no context")
        n_columns = hashing.n_features * (1 if context is None else 2)
        classes = tuple(str(c) for c in header["classes"])
        n_scores = int(header["n_scores"])
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"classes {list(classes)}: need at least two distinct ones")
        if n_scores != (1 if len(classes) == 2 else len(classes)) or n_scores > _MAX_SCORES:
            raise ValueError(f"{n_scores} score columns for {len(classes)} classes")
        if context is not None and n_scores != 1:
            raise ValueError("a context model has two classes")
        features, scores = arrays["coef_features"], arrays["coef_scores"]
        values, intercept = arrays["coef_values"], arrays.get("intercept")
        if features.dtype != np.int32 or scores.dtype != np.int32 or values.dtype != np.float32:
            raise ValueError("coefficients must be int32 (feature, score) and float32 values")
        if not features.shape == scores.shape == values.shape or features.ndim != 1:
            raise ValueError("coefficient arrays of different shapes")
        if features.size and (
            int(features.min()) < 0
            or int(features.max()) >= n_columns
            or int(scores.min()) < 0
            or int(scores.max()) >= n_scores
        ):
            raise ValueError("a coefficient is outside the feature or score range")
        if intercept is None or intercept.dtype != np.float32 or intercept.shape != (n_scores,):
            raise ValueError(f"the intercept must be {n_scores} float32 values")
        if not (np.isfinite(values).all() and np.isfinite(intercept).all()):
            raise ValueError("coefficients must be finite")
        columns = None
        if vocabulary:
            columns, rows = np.unique(features, return_inverse=True)
            coef = np.zeros((columns.size, n_scores), dtype=np.float32)
            coef[rows.reshape(-1), scores] = values
        else:
            coef = np.zeros((n_columns, n_scores), dtype=np.float32)
            coef[features, scores] = values
        tfidf = None
        if header["tfidf"] is not None:
            spec = header["tfidf"]
            idf = arrays.get("idf") if spec["has_idf"] else None
            if spec["has_idf"] and (
                idf is None or idf.dtype != np.float32 or idf.shape != (hashing.n_features,)
            ):
                raise ValueError(f"idf must be {hashing.n_features} float32 values")
            if spec["norm"] not in (None, "l1", "l2"):
                raise ValueError(f"unknown TF-IDF norm {spec['norm']!r}")
            tfidf = TfidfSettings(bool(spec["sublinear_tf"]), spec["norm"], idf)
        scale = float(header["score_scale"])
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"score_scale must be positive, got {scale}")
        hyperparameters = header.get("hyperparameters") or {}
        if not isinstance(hyperparameters, dict):
            raise ValueError("hyperparameters must be an object")
        return cls(
            model_type=str(header["model_type"]),
            classes=classes,
            hashing=hashing,
            coef=coef,
            intercept=intercept,
            tfidf=tfidf,
            score_scale=scale,
            hyperparameters=hyperparameters,
            context=context,
            columns=None if columns is None else columns.astype(np.int32),
            language_model=language_model,
            mask_names=masked,
        )


def _check_mask_rule(spec: Any) -> None:
    """A version-5 file's masking rule must be the one `mask_names` applies."""
    expected = rule()
    if spec != expected:
        raise ValueError(f"masks names by {spec!r}; this reader applies {expected!r}")


def _language_model(
    header: dict[str, Any], arrays: dict[str, Array], hashing: HashingSettings
) -> LanguageModelSettings:
    """The language-model part of a version-4 file. Raises ValueError when it is malformed."""
    spec = header.get("language_model")
    if not isinstance(spec, dict) or set(spec) != _LM_KEYS:
        raise ValueError(f"language_model must have exactly the keys {', '.join(sorted(_LM_KEYS))}")
    order, ngram_max = spec["order"], spec["ngram_max"]
    longest = hashing.ngram_range[1]
    if not (
        isinstance(order, int)
        and isinstance(ngram_max, int)
        and 1 <= order <= _MAX_ORDER
        and 1 <= ngram_max <= longest == max(order, ngram_max)
    ):
        raise ValueError(f"order {order!r} and ngram_max {ngram_max!r} for n-grams up to {longest}")
    if not hashing.binary or hashing.norm is not None:
        raise ValueError("a language model reads binary hashed features, without normalisation")
    names = {f"lm_{kind}_{n}" for kind in _LM_KINDS[:2] for n in range(1, order + 1)}
    names |= {f"lm_histories_{n}" for n in range(1, order)}
    if {name for name in arrays if name.startswith("lm_")} != names:
        raise ValueError(f"expected the arrays {sorted(names)}")
    columns = tuple(arrays[f"lm_columns_{n}"] for n in range(1, order + 1))
    if any(c.size and int(c[-1]) >= hashing.n_features for c in columns):
        raise ValueError("a language-model column is outside the hashed features")
    tokens, vocabulary, discount = spec["tokens"], spec["vocabulary"], spec["discount"]
    if not (
        isinstance(tokens, list)
        and all(isinstance(t, int) for t in tokens)
        and isinstance(discount, int | float)
    ):
        raise ValueError("language model tokens must be integers and its discount a number")
    tables = LanguageModelTables(
        columns=columns,
        counts=tuple(arrays[f"lm_counts_{n}"] for n in range(1, order + 1)),
        histories=tuple(arrays[f"lm_histories_{n}"] for n in range(1, order)),
        tokens=np.asarray(tokens, dtype=np.int64),
        vocabulary=vocabulary,
        discount=float(discount),
    )
    stacker = Stacker.from_json(spec["stacker"])
    if stacker.size != N_INPUTS:
        raise ValueError(f"the stacker takes {stacker.size} inputs, not {N_INPUTS}")
    return LanguageModelSettings(tables, stacker, ngram_max)
