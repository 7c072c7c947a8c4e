"""The lean prediction path equals Pipeline.predict_proba; skops files round-trip, trusted only."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sentiment.adapters import skops_format
from sentiment.adapters.hashed_vocabulary import HashedVocabulary
from sentiment.adapters.hyperparameters import DEFAULTS
from sentiment.adapters.name_masking import mask_names
from sentiment.adapters.sklearn_classifier import (
    STACKED_ESTIMATORS,
    TWO_CLASSES_ONLY,
    SklearnClassifier,
)
from sentiment.domain.errors import ClassifierError, ModelLoadError
from sentiment.domain.model import LabelledDataset
from tests.conftest import TINY_HYPERPARAMETERS

MODEL_TYPES = sorted(DEFAULTS)
MULTICLASS_TYPES = [t for t in MODEL_TYPES if t not in TWO_CLASSES_ONLY]
# Types whose `predict_proba` is a lean path of its own, beside the pipeline's; the stacked types'
# pipeline and `predict_proba` call one and the same scorer.
LEAN_TYPES = [t for t in MODEL_TYPES if t not in STACKED_ESTIMATORS]
STACKED_TYPES = sorted(STACKED_ESTIMATORS)
ODD_TEXTS = ["", "!!!", "br br <br />", "ΟΔΟΣ İstanbul café 😀", "a\x00b", "x" * 5000]


@pytest.fixture(scope="module")
def fitted(small_dataset: LabelledDataset) -> Callable[[str], SklearnClassifier]:
    """One classifier per model type, fitted once for the module."""
    cache: dict[str, SklearnClassifier] = {}

    def get(model_type: str) -> SklearnClassifier:
        if model_type not in cache:
            classifier = SklearnClassifier(model_type, TINY_HYPERPARAMETERS)
            classifier.fit(small_dataset.texts, small_dataset.labels)
            cache[model_type] = classifier
        return cache[model_type]

    return get


@pytest.fixture(params=MODEL_TYPES)
def trained(
    request: pytest.FixtureRequest, fitted: Callable[[str], SklearnClassifier]
) -> SklearnClassifier:
    return fitted(request.param)


@pytest.fixture(scope="module", params=MULTICLASS_TYPES)
def three_classes(
    request: pytest.FixtureRequest, small_dataset: LabelledDataset
) -> SklearnClassifier:
    labels = [label if i % 3 else "neutral" for i, label in enumerate(small_dataset.labels)]
    classifier = SklearnClassifier(request.param, TINY_HYPERPARAMETERS)
    classifier.fit(small_dataset.texts, labels)
    return classifier


def texts_to_score(holdout: LabelledDataset) -> list[str]:
    return [*holdout.texts[:60], *ODD_TEXTS]


@pytest.mark.parametrize("model_type", LEAN_TYPES)
def test_batch_predictions_equal_predict_proba_exactly(
    fitted: Callable[[str], SklearnClassifier], model_type: str, holdout_dataset: LabelledDataset
) -> None:
    trained = fitted(model_type)
    texts = texts_to_score(holdout_dataset)
    expected = trained.pipeline.predict_proba(texts)
    got = trained.predict_proba(texts)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("model_type", LEAN_TYPES)
def test_single_predictions_equal_predict_proba_exactly(
    fitted: Callable[[str], SklearnClassifier], model_type: str, holdout_dataset: LabelledDataset
) -> None:
    trained = fitted(model_type)
    texts = texts_to_score(holdout_dataset)
    expected = trained.pipeline.predict_proba(texts)
    got = np.vstack([trained.predict_proba([t]) for t in texts])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("model_type", STACKED_TYPES)
def test_stacked_probabilities_are_the_logistic_of_the_stacker_over_its_inputs(
    fitted: Callable[[str], SklearnClassifier], model_type: str, holdout_dataset: LabelledDataset
) -> None:
    """The stacked types' probabilities, batch and one by one, against the stacker's formula
    computed here as a matrix product (the scorer sums column by column)."""
    trained = fitted(model_type)
    texts = texts_to_score(holdout_dataset)
    scorer = trained.pipeline.steps[-1][1].scorer()
    stacker = scorer.stacker
    inputs = scorer.inputs(mask_names(texts) if trained.masks_names else texts)
    assert inputs.shape == (len(texts), stacker.size)
    score = ((inputs - stacker.mean) / stacker.scale) @ stacker.coef + stacker.intercept
    expected = 1.0 / (1.0 + np.exp(-score))
    assert expected.std() > 0.05  # the texts are told apart: the check below is not vacuous
    batch = trained.predict_proba(texts)
    np.testing.assert_allclose(batch[:, 1], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    single = np.vstack([trained.predict_proba([t]) for t in texts])
    np.testing.assert_array_equal(single, batch)  # a text's score does not depend on its batch


def test_more_classes_equal_predict_proba_exactly(
    three_classes: SklearnClassifier, holdout_dataset: LabelledDataset
) -> None:
    texts = texts_to_score(holdout_dataset)
    expected = three_classes.pipeline.predict_proba(texts)
    assert three_classes.classes == ("negative", "neutral", "positive")
    np.testing.assert_array_equal(three_classes.predict_proba(texts), expected)
    np.testing.assert_array_equal(
        np.vstack([three_classes.predict_proba([t]) for t in texts]), expected
    )
    labels = [p.label for p in three_classes.predict(texts)]
    assert labels == [three_classes.classes[i] for i in expected.argmax(axis=1)]


def test_a_vectorizer_the_hasher_does_not_reproduce_still_predicts_the_same(
    small_dataset: LabelledDataset, holdout_dataset: LabelledDataset
) -> None:
    vectorizer = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 3), n_features=2**12)
    pipeline = Pipeline([("vectorizer", vectorizer), ("classifier", LogisticRegression())])
    pipeline.fit(list(small_dataset.texts), list(small_dataset.labels))
    classifier = SklearnClassifier("tfidf-lr", pipeline=pipeline)
    texts = texts_to_score(holdout_dataset)
    np.testing.assert_array_equal(classifier.predict_proba(texts), pipeline.predict_proba(texts))


def test_a_pipeline_of_another_shape_is_refused() -> None:
    pipeline = Pipeline([("classifier", LogisticRegression())])
    with pytest.raises(ClassifierError, match="expected a fitted HashingVectorizer"):
        SklearnClassifier("nblr", pipeline=pipeline)


@pytest.mark.parametrize("compress", [True, False], ids=["compressed", "stored"])
def test_skops_round_trip_predicts_the_same(
    trained: SklearnClassifier, holdout_dataset: LabelledDataset, tmp_path: Path, compress: bool
) -> None:
    path = tmp_path / "model.skops"
    skops_format.dump(trained.pipeline, path, compress=compress)
    assert skops_format.types_in(path) <= set(skops_format.TRUSTED_TYPES)
    loaded = SklearnClassifier(trained.model_type, pipeline=skops_format.load(path))
    texts = texts_to_score(holdout_dataset)
    np.testing.assert_array_equal(loaded.predict_proba(texts), trained.predict_proba(texts))
    assert loaded.classes == trained.classes


def test_compression_makes_the_file_smaller(trained: SklearnClassifier, tmp_path: Path) -> None:
    skops_format.dump(trained.pipeline, tmp_path / "a.skops", compress=True)
    skops_format.dump(trained.pipeline, tmp_path / "b.skops", compress=False)
    assert (tmp_path / "a.skops").stat().st_size < (tmp_path / "b.skops").stat().st_size


def test_a_model_file_with_a_scikit_learn_type_not_listed_is_refused(
    trained: SklearnClassifier, tmp_path: Path
) -> None:
    # A real, loadable pipeline whose extra step is a type (and a function) nobody vetted.
    steps = [*trained.pipeline.steps[:-1], ("log", FunctionTransformer(np.log1p))]
    path = tmp_path / "tampered.skops"
    skops_format.dump(Pipeline([*steps, trained.pipeline.steps[-1]]), path)
    with pytest.raises(ModelLoadError, match=r"untrusted types: .*FunctionTransformer"):
        skops_format.load(path)


@pytest.mark.parametrize("model_type", LEAN_TYPES)
def test_a_model_with_sparse_coefficients_predicts_as_the_dense_one(
    fitted: Callable[[str], SklearnClassifier], holdout_dataset: LabelledDataset, model_type: str
) -> None:
    # A pipeline whose LogisticRegression was stored sparse (`LogisticRegression.sparsify`).
    dense = fitted(model_type)
    pipeline = copy.deepcopy(dense.pipeline)
    pipeline.steps[-1][1].sparsify()
    assert not isinstance(pipeline.steps[-1][1].coef_, np.ndarray)
    sparse = SklearnClassifier(model_type, pipeline=pipeline)
    texts = texts_to_score(holdout_dataset)
    np.testing.assert_array_equal(sparse.predict_proba(texts), dense.predict_proba(texts))
    np.testing.assert_array_equal(sparse.predict_proba(texts[:1]), dense.predict_proba(texts[:1]))
    np.testing.assert_allclose(
        sparse.predict_proba(texts), pipeline.predict_proba(texts), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("norm", ["l2", None])
def test_a_vocabulary_and_tfidf_pipeline_predicts_as_the_pipeline(
    small_dataset: LabelledDataset, holdout_dataset: LabelledDataset, norm: str | None
) -> None:
    # Texts with n-grams the vocabulary did not keep: TF-IDF weighs and normalises the kept ones.
    vectorizer = HashingVectorizer(
        n_features=2**12, alternate_sign=False, norm=None, dtype=np.float32
    )
    steps = [vectorizer, HashedVocabulary(min_df=2), TfidfTransformer(norm=norm)]
    pipeline = Pipeline(
        [*((f"step{i}", s) for i, s in enumerate(steps)), ("lr", LogisticRegression())]
    )
    pipeline.fit(list(small_dataset.texts), list(small_dataset.labels))
    classifier = SklearnClassifier("tfidf-lr", pipeline=pipeline)
    texts = [*texts_to_score(holdout_dataset), "zzqx unseenword"]
    np.testing.assert_array_equal(classifier.predict_proba(texts), pipeline.predict_proba(texts))
    np.testing.assert_array_equal(
        classifier.predict_proba(texts[-1:]), pipeline.predict_proba(texts[-1:])
    )


def unfitted_or_odd_pipelines() -> dict[str, tuple[str, Pipeline, str]]:
    """Pipelines the lean path cannot serve: the model type they show (or any), the pipeline and
    the steps its refusal names."""
    texts, labels = ["a good film", "a bad film", "good, good", "bad, bad"], ["p", "n", "p", "n"]
    vectorizer = HashingVectorizer(n_features=2**8, alternate_sign=False, norm=None)
    x = vectorizer.transform(texts)
    fitted_lr = LogisticRegression().fit(x, labels)
    return {
        "unfitted_model": (
            "tfidf-lr",
            Pipeline([("v", vectorizer), ("lr", LogisticRegression())]),
            "'HashingVectorizer', 'LogisticRegression'",
        ),
        "unfitted_vocabulary": (
            "nblr",
            Pipeline([("v", vectorizer), ("kept", HashedVocabulary()), ("lr", fitted_lr)]),
            "'HashingVectorizer', 'HashedVocabulary', 'LogisticRegression'",
        ),
        "another_middle_step": (
            "tfidf-lr",
            Pipeline(
                [("v", vectorizer), ("log", FunctionTransformer(np.log1p)), ("lr", fitted_lr)]
            ),
            "'HashingVectorizer', 'FunctionTransformer', 'LogisticRegression'",
        ),
        "another_vectorizer": (
            "tfidf-lr",
            Pipeline([("t", TfidfTransformer()), ("lr", fitted_lr)]),
            "'TfidfTransformer', 'LogisticRegression'",
        ),
    }


@pytest.mark.parametrize("case", sorted(unfitted_or_odd_pipelines()))
def test_an_unfitted_or_odd_pipeline_is_refused_when_adopted(case: str) -> None:
    # A ClassifierError naming the steps, not an AttributeError from deep in the lean path.
    model_type, pipeline, steps = unfitted_or_odd_pipelines()[case]
    with pytest.raises(ClassifierError, match=r"expected a fitted HashingVectorizer") as raised:
        SklearnClassifier(model_type, pipeline=pipeline)
    assert steps in str(raised.value)


@pytest.mark.parametrize("model_type", STACKED_TYPES)
def test_an_unfitted_stacked_estimator_is_refused_when_adopted(model_type: str) -> None:
    estimator = STACKED_ESTIMATORS[model_type]
    with pytest.raises(ClassifierError, match=f"expected a fitted {estimator.__name__}"):
        SklearnClassifier(model_type, pipeline=Pipeline([("classifier", estimator())]))
