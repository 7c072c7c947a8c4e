"""Export a fitted SklearnClassifier as a HashedLinearModel: the pickle-free serving artifact.

A pipeline of `HashingVectorizer [+ HashedVocabulary | TfidfTransformer] + LogisticRegression`
whose hashing `NgramHasher` reproduces exports (with a vocabulary: format version 3), and so do
`nblr-ctx` (format version 2) and `nblr-lm` (format version 4); anything else (another step,
another vectorizer) does not, and is served from its skops file instead. A leading `NameMasker`
step is the model's `mask_names` (format version 5).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression

from sentiment.adapters.context_model import NegationContextClassifier
from sentiment.adapters.hashed_linear import (
    ContextSettings,
    HashedLinearModel,
    LanguageModelSettings,
    TfidfSettings,
)
from sentiment.adapters.hashed_vocabulary import HashedVocabulary
from sentiment.adapters.lm_model import NbLanguageModelClassifier
from sentiment.adapters.name_masker import NameMasker
from sentiment.adapters.nb_logistic import dense_coef
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.adapters.text_hashing import HashingSettings


def hashed_linear_model(classifier: SklearnClassifier) -> HashedLinearModel | None:
    """The serving model of a fitted classifier, or None when its pipeline has no such form."""
    steps = [step for _, step in classifier.pipeline.steps]
    if steps and isinstance(steps[0], NameMasker):
        model = _model(classifier, steps[1:])
        return None if model is None else replace(model, mask_names=True)
    return _model(classifier, steps)


def _model(classifier: SklearnClassifier, steps: list[Any]) -> HashedLinearModel | None:
    """The serving model of the pipeline's steps after any name masking."""
    if len(steps) == 1 and isinstance(steps[0], NegationContextClassifier):
        return _context_model(classifier, steps[0])
    if len(steps) == 1 and isinstance(steps[0], NbLanguageModelClassifier):
        return _language_model(classifier, steps[0])
    vectorizer, model, middle = steps[0], steps[-1], steps[1:-1]
    vocabulary = middle.pop(0) if middle and isinstance(middle[0], HashedVocabulary) else None
    if not (
        isinstance(vectorizer, HashingVectorizer)
        and isinstance(model, LogisticRegression)
        and len(middle) <= (0 if vocabulary is not None else 1)
        and all(isinstance(step, TfidfTransformer) for step in middle)
        and np.dtype(vectorizer.dtype) == np.float32
    ):
        return None
    try:
        hashing = HashingSettings.of(vectorizer)
    except ValueError:
        return None
    tfidf = None
    if middle:
        step = middle[0]
        idf = getattr(step, "idf_", None)
        tfidf = TfidfSettings(
            sublinear_tf=bool(step.sublinear_tf),
            norm=step.norm,
            idf=None if idf is None else np.asarray(idf, dtype=np.float32),
        )
    coef = np.ascontiguousarray(dense_coef(model).T, dtype=np.float32)
    intercept = np.asarray(model.intercept_, dtype=np.float32).reshape(-1)
    if intercept.size != coef.shape[1]:
        return None
    return HashedLinearModel(
        model_type=classifier.model_type,
        classes=classifier.classes,
        hashing=hashing,
        coef=coef,
        intercept=intercept,
        tfidf=tfidf,
        hyperparameters=classifier.hyperparameters(),
        columns=None if vocabulary is None else np.asarray(vocabulary.columns_, dtype=np.int32),
    )


def _context_model(
    classifier: SklearnClassifier, model: NegationContextClassifier
) -> HashedLinearModel:
    """nblr-ctx: its two blocks of coefficients, negation settings and stacker."""
    return HashedLinearModel(
        model_type=classifier.model_type,
        classes=classifier.classes,
        hashing=HashingSettings.of(model.block_vectorizer()),
        coef=np.ascontiguousarray(model.coef_, dtype=np.float32).reshape(-1, 1),
        intercept=np.asarray(model.intercept_, dtype=np.float32).reshape(1),
        hyperparameters=classifier.hyperparameters(),
        context=ContextSettings(model.negation(), model.stacker()),
    )


def _language_model(
    classifier: SklearnClassifier, model: NbLanguageModelClassifier
) -> HashedLinearModel:
    """nblr-lm: its kept columns and coefficients, language models and stacker."""
    return HashedLinearModel(
        model_type=classifier.model_type,
        classes=classifier.classes,
        hashing=HashingSettings.of(model.hasher_vectorizer()),
        coef=np.ascontiguousarray(model.coef_, dtype=np.float32).reshape(-1, 1),
        intercept=np.asarray(model.intercept_, dtype=np.float32).reshape(1),
        hyperparameters=classifier.hyperparameters(),
        columns=np.asarray(model.columns_, dtype=np.int32),
        language_model=LanguageModelSettings(model.tables(), model.stacker(), int(model.ngram_max)),
    )
