"""The numpy-only serving model (`serving.npz`) predicts what the scikit-learn pipeline predicts,
and its file is refused when malformed, whatever it holds."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sentiment.adapters.hashed_linear import FILE_NAME, HashedLinearModel
from sentiment.adapters.hashed_linear_classifier import HashedLinearClassifier, _sigmoid
from sentiment.adapters.hashed_vocabulary import HashedVocabulary
from sentiment.adapters.hyperparameters import DEFAULTS
from sentiment.adapters.name_masking import NAME, PLACEHOLDER, RULE_VERSION, rule
from sentiment.adapters.serving_export import hashed_linear_model
from sentiment.adapters.sklearn_classifier import (
    STACKED_ESTIMATORS,
    TWO_CLASSES_ONLY,
    SklearnClassifier,
)
from sentiment.adapters.text_hashing import HashingSettings
from sentiment.domain.errors import ClassifierError, ModelLoadError
from sentiment.domain.model import LabelledDataset, ParamValue
from tests.conftest import TINY_HYPERPARAMETERS, sample_frame

MODEL_TYPES = sorted(DEFAULTS)
MULTICLASS_TYPES = [t for t in MODEL_TYPES if t not in TWO_CLASSES_ONLY]
ODD_TEXTS = ["", "!!!", "br br <br />", "ΟΔΟΣ İstanbul café 😀", "a\x00b", "x" * 5000]
# The linear types' scores are scipy's to the bit (the decision test below); their sigmoid is
# computed in float64 and rounded once, where scipy's float32 `expit` rounds `expf`, the sum and
# the division: up to two float32 steps apart (on 4 million scores), so 2**-23 below 1. The
# stacked types' probabilities are equal.
TOLERANCE = 2.0**-23
LINEAR_TYPES = [t for t in MODEL_TYPES if t not in STACKED_ESTIMATORS]


@pytest.fixture(scope="module")
def reviews(shared_frame: pd.DataFrame) -> list[str]:
    """300 real reviews, none of them among the training ones, plus odd texts."""
    texts = [str(t) for t in sample_frame(shared_frame, 300, seed=23)["text"].tolist()]
    return [*texts, *ODD_TEXTS]


def exported(classifier: SklearnClassifier, tmp_path: Path) -> HashedLinearClassifier:
    """The classifier's serving model, written to a file and read back."""
    model = hashed_linear_model(classifier)
    assert model is not None
    path = tmp_path / FILE_NAME
    model.save(path)
    return HashedLinearClassifier.from_file(path)


def serving_file(
    model_type: str, hyperparameters: dict[str, ParamValue], dataset: LabelledDataset, path: Path
) -> Path:
    """The serving file of a model fitted on the dataset, written to path."""
    classifier = SklearnClassifier(model_type, hyperparameters)
    classifier.fit(dataset.texts, dataset.labels)
    model = hashed_linear_model(classifier)
    assert model is not None
    model.save(path)
    return path


@pytest.fixture(scope="module", params=MODEL_TYPES)
def trained(request: pytest.FixtureRequest, small_dataset: LabelledDataset) -> SklearnClassifier:
    classifier = SklearnClassifier(request.param, TINY_HYPERPARAMETERS)
    classifier.fit(small_dataset.texts, small_dataset.labels)
    return classifier


def test_batch_probabilities_equal_the_pipelines(
    trained: SklearnClassifier, reviews: list[str], tmp_path: Path
) -> None:
    served = exported(trained, tmp_path)
    expected = trained.pipeline.predict_proba(reviews)
    got = served.predict_proba(reviews)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    assert served.classes == trained.classes
    assert served.model_type == trained.model_type
    assert served.hyperparameters() == trained.hyperparameters()


def test_linear_scores_are_the_pipelines_to_the_bit(
    small_dataset: LabelledDataset, reviews: list[str], tmp_path: Path
) -> None:
    # The same float32 sums in the same order as scipy's sparse product, batch and one by one,
    # with two classes (one score column) and three.
    three = [label if i % 3 else "neutral" for i, label in enumerate(small_dataset.labels)]
    for model_type in LINEAR_TYPES:
        for labels in (small_dataset.labels, three):
            classifier = SklearnClassifier(model_type, TINY_HYPERPARAMETERS)
            classifier.fit(small_dataset.texts, labels)
            served = exported(classifier, tmp_path)
            expected = classifier.pipeline.decision_function(reviews).reshape(len(reviews), -1)
            got = served.decision_function(reviews)
            assert got.dtype == expected.dtype == np.float32
            np.testing.assert_array_equal(got, expected)
            one_by_one = np.vstack([served.decision_function([t]) for t in reviews])
            np.testing.assert_array_equal(one_by_one, expected)


@pytest.mark.parametrize("model_type", sorted(STACKED_ESTIMATORS))
def test_stacked_probabilities_are_the_pipelines_to_the_bit(
    model_type: str, small_dataset: LabelledDataset, reviews: list[str], tmp_path: Path
) -> None:
    classifier = SklearnClassifier(model_type, TINY_HYPERPARAMETERS)
    classifier.fit(small_dataset.texts, small_dataset.labels)
    served = exported(classifier, tmp_path)
    expected = classifier.pipeline.predict_proba(reviews)
    np.testing.assert_array_equal(served.predict_proba(reviews), expected)
    np.testing.assert_array_equal(
        np.vstack([served.predict_proba([t]) for t in reviews[:50]]), expected[:50]
    )
    # Its scores: the stacked one, a column of float64 as a linear model's single column.
    scores = classifier.pipeline.decision_function(reviews)
    got = served.decision_function(reviews)
    assert got.shape == (len(reviews), 1)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got[:, 0], scores)
    np.testing.assert_array_equal(served.decision_function(reviews[:1]), scores[:1, None])


def test_one_text_at_a_time_equals_the_pipeline(
    trained: SklearnClassifier, reviews: list[str], tmp_path: Path
) -> None:
    served = exported(trained, tmp_path)
    texts = reviews[:100] + ODD_TEXTS
    expected = trained.pipeline.predict_proba(texts)
    got = np.vstack([served.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_predictions_name_the_same_labels(
    trained: SklearnClassifier, reviews: list[str], tmp_path: Path
) -> None:
    served = exported(trained, tmp_path)
    got, expected = served.predict(reviews), trained.predict(reviews)
    assert [p.label for p in got] == [p.label for p in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=TOLERANCE)
    assert served.predict([]) == []


def test_batches_scored_in_threads_side_by_side_equal_those_scored_alone(
    trained: SklearnClassifier, reviews: list[str], tmp_path: Path
) -> None:
    # A server scores requests in a thread pool: the scorers share no scratch state.
    served = exported(trained, tmp_path)
    batches = [reviews[i : i + 37] for i in range(0, len(reviews), 37)] * 3
    alone = [served.predict_proba(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=6) as pool:
        side_by_side = list(pool.map(served.predict_proba, batches))
    for got, expected in zip(side_by_side, alone, strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "pick",
    [lambda r: ["", *[""] * 40, r[0], ""], lambda r: r[:70]],
    ids=["a block of empty texts", "no empty text"],
)
def test_batches_of_every_shape_score_as_the_pipeline(
    trained: SklearnClassifier,
    reviews: list[str],
    tmp_path: Path,
    pick: Callable[[list[str]], list[str]],
) -> None:
    # Rows are summed in blocks of the same length: a whole block of empty rows, and a batch
    # whose shortest row is not empty.
    served = exported(trained, tmp_path)
    texts = pick(reviews)
    assert "" not in texts or texts.count("") > 32
    if trained.model_type in STACKED_ESTIMATORS:
        got, expected = served.predict_proba(texts), trained.pipeline.predict_proba(texts)
    else:
        got = served.decision_function(texts)
        expected = trained.pipeline.decision_function(texts).reshape(len(texts), -1)
    np.testing.assert_array_equal(got, expected)


def test_extreme_scores_are_certain_without_overflow() -> None:
    scores = np.array([-1e30, -800.0, -120.0, 0.0, 120.0, 800.0, 1e30], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp is a RuntimeWarning
        got = _sigmoid(scores)
    assert got.dtype == np.float32
    assert got.tolist() == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0]


def test_uneven_batches_equal_the_pipeline(trained: SklearnClassifier, tmp_path: Path) -> None:
    # One very long text among short ones: the rows are summed one by one, not padded.
    served = exported(trained, tmp_path)
    texts = ["good", "bad film", " ".join(f"word{i}" for i in range(3000)), "", "great!"]
    np.testing.assert_allclose(
        served.predict_proba(texts), trained.pipeline.predict_proba(texts), atol=TOLERANCE
    )


def test_three_classes_equal_the_pipeline(
    small_dataset: LabelledDataset, reviews: list[str], tmp_path: Path
) -> None:
    labels = [label if i % 3 else "neutral" for i, label in enumerate(small_dataset.labels)]
    for model_type in MULTICLASS_TYPES:
        classifier = SklearnClassifier(model_type, TINY_HYPERPARAMETERS)
        classifier.fit(small_dataset.texts, labels)
        served = exported(classifier, tmp_path)
        assert served.classes == ("negative", "neutral", "positive")
        # Softmax is computed as scikit-learn computes it, in float32: the same numbers.
        np.testing.assert_array_equal(
            served.predict_proba(reviews), classifier.pipeline.predict_proba(reviews)
        )


@pytest.mark.parametrize("model_type", sorted(TWO_CLASSES_ONLY))
def test_stacked_types_refuse_three_classes(
    model_type: str, small_dataset: LabelledDataset
) -> None:
    labels = [label if i % 3 else "neutral" for i, label in enumerate(small_dataset.labels)]
    with pytest.raises(ClassifierError) as refused:
        SklearnClassifier(model_type, TINY_HYPERPARAMETERS).fit(small_dataset.texts, labels)
    assert str(refused.value) == (
        f"{model_type} fits exactly two classes, and the data has 3 ('negative', 'neutral', "
        "'positive'): --model-type nblr or tfidf-lr fits more"
    )


def test_a_pipeline_of_another_form_has_no_serving_model(small_dataset: LabelledDataset) -> None:
    vectorizer = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 3), n_features=2**12)
    pipeline = Pipeline([("vectorizer", vectorizer), ("classifier", LogisticRegression())])
    pipeline.fit(list(small_dataset.texts), list(small_dataset.labels))
    assert hashed_linear_model(SklearnClassifier("tfidf-lr", pipeline=pipeline)) is None


def counts_vectorizer(dtype: type = np.float32) -> HashingVectorizer:
    return HashingVectorizer(n_features=2**12, alternate_sign=False, norm=None, dtype=dtype)


def unreproducible_steps(case: str) -> list[object]:
    if case == "float64 counts":
        return [counts_vectorizer(np.float64), LogisticRegression()]
    if case == "two tf-idf steps":
        return [counts_vectorizer(), TfidfTransformer(), TfidfTransformer(), LogisticRegression()]
    assert case == "vocabulary and tf-idf"
    return [counts_vectorizer(), HashedVocabulary(), TfidfTransformer(), LogisticRegression()]


@pytest.mark.parametrize("case", ["float64 counts", "two tf-idf steps", "vocabulary and tf-idf"])
def test_a_pipeline_it_scores_but_the_file_cannot_reproduce_has_no_serving_model(
    small_dataset: LabelledDataset, case: str
) -> None:
    # SklearnClassifier scores these pipelines itself; a serving file would score them otherwise.
    steps = unreproducible_steps(case)
    pipeline = Pipeline([(f"step{i}", step) for i, step in enumerate(steps)])
    pipeline.fit(list(small_dataset.texts), list(small_dataset.labels))
    classifier = SklearnClassifier("tfidf-lr", pipeline=pipeline)
    assert classifier.predict_proba(["a fine film"]).shape == (1, 2)
    assert hashed_linear_model(classifier) is None


@pytest.mark.parametrize(
    "tfidf",
    [
        {"sublinear_tf": False, "use_idf": False, "norm": "l1"},
        {"sublinear_tf": False, "use_idf": True, "norm": None},
        {"sublinear_tf": True, "use_idf": False, "norm": "l2"},
    ],
    ids=["raw-counts-l1", "idf-only", "sublinear-no-idf"],
)
def test_other_tfidf_settings_are_served_as_the_pipeline_scores_them(
    small_dataset: LabelledDataset, reviews: list[str], tfidf: dict[str, Any], tmp_path: Path
) -> None:
    # tfidf-lr always fits sublinear tf with idf weights; the file serves the others too.
    steps = [counts_vectorizer(), TfidfTransformer(**tfidf), LogisticRegression()]
    pipeline = Pipeline([(f"step{i}", step) for i, step in enumerate(steps)])
    pipeline.fit(list(small_dataset.texts), list(small_dataset.labels))
    served = exported(SklearnClassifier("tfidf-lr", pipeline=pipeline), tmp_path)
    expected = pipeline.decision_function(reviews).reshape(-1, 1)
    np.testing.assert_allclose(served.decision_function(reviews), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        served.predict_proba(reviews), pipeline.predict_proba(reviews), rtol=0, atol=1e-6
    )


def test_a_model_whose_intercepts_do_not_match_its_coefficients_has_no_serving_model(
    small_dataset: LabelledDataset,
) -> None:
    # As a damaged model file could hold: two intercepts for one column of coefficients.
    pipeline = Pipeline([("vectorizer", counts_vectorizer()), ("classifier", LogisticRegression())])
    pipeline.fit(list(small_dataset.texts), list(small_dataset.labels))
    pipeline[-1].intercept_ = np.zeros(2)
    assert hashed_linear_model(SklearnClassifier("tfidf-lr", pipeline=pipeline)) is None


def test_it_cannot_be_fitted_again(trained: SklearnClassifier, tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="cannot be fitted"):
        exported(trained, tmp_path).fit(["a", "b"], ["x", "y"])


def test_the_file_is_stored_sparse(trained: SklearnClassifier, tmp_path: Path) -> None:
    model = hashed_linear_model(trained)
    assert model is not None
    model.save(tmp_path / FILE_NAME)
    with np.load(tmp_path / FILE_NAME, allow_pickle=False) as archive:
        assert archive["coef_values"].size == np.count_nonzero(model.coef)
        header = json.loads(archive["header"].tobytes())
    assert header["format"] == "sentiment.hashed-linear"
    assert header["classes"] == list(trained.classes)
    assert header["hashing"]["n_features"] == 2**16
    # Version 1 (readable by every reader) unless the model needs version 2 (a context), 3
    # (a hashed vocabulary: only the kept columns' coefficients, never made dense) or 4 (a
    # vocabulary and class language models); version 5 extends those with name masking (every
    # type's default), so that a reader that does not mask refuses the file.
    expected = {"nblr": 3, "nblr-ctx": 2, "nblr-lm": 4}.get(trained.model_type, 1)
    assert trained.masks_names
    assert header["format_version"] == 5
    assert header["base_version"] == expected
    assert header["mask_names"] == {
        "pattern": NAME.pattern,
        "placeholder": PLACEHOLDER,
        "version": RULE_VERSION,
    }
    assert ("context" in header) == (trained.model_type == "nblr-ctx")
    assert ("language_model" in header) == (trained.model_type == "nblr-lm")
    assert header.get("vocabulary", False) == (trained.model_type in ("nblr", "nblr-lm"))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_a_model_that_masks_no_names_is_written_in_its_own_version(
    model_type: str, small_dataset: LabelledDataset, reviews: list[str], tmp_path: Path
) -> None:
    classifier = SklearnClassifier(model_type, {**TINY_HYPERPARAMETERS, "mask_names": False})
    classifier.fit(small_dataset.texts, small_dataset.labels)
    assert classifier.pipeline.steps[0][0] != "names"
    served = exported(classifier, tmp_path)
    assert not served.model.mask_names
    with np.load(tmp_path / FILE_NAME, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
    assert header["format_version"] in (1, 2, 3, 4)
    assert "mask_names" not in header
    np.testing.assert_allclose(
        served.predict_proba(reviews),
        classifier.pipeline.predict_proba(reviews),
        rtol=0,
        atol=TOLERANCE,
    )


def test_masking_is_what_tells_the_two_apart(
    small_dataset: LabelledDataset, tmp_path: Path
) -> None:
    # The same data with and without masking: a text whose names differ is scored the same by
    # the masking model only, in scikit-learn and in the serving file alike.
    texts = [f"a dull film; {name} is awful in it." for name in ("Tom Hanks", "Kurosawa", "Bo")]
    for masks in (True, False):
        classifier = SklearnClassifier("nblr", {"n_features_log2": 18, "mask_names": masks})
        classifier.fit(small_dataset.texts, small_dataset.labels)
        served = exported(classifier, tmp_path)
        for scores in (classifier.predict_proba(texts), served.predict_proba(texts)):
            assert (np.ptp(scores[:, 1]) == 0) == masks


# -- malformed files ---------------------------------------------------------------------------


def rewrite(source: Path, target: Path, **changes: np.ndarray | None) -> Path:
    """A copy of a model file with some arrays replaced (or removed, with None)."""
    with np.load(source, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            arrays.pop(name, None)
        else:
            arrays[name] = value
    with target.open("wb") as handle:
        np.savez(handle, **arrays)
    return target


def header_with(source: Path, **changes: object) -> np.ndarray:
    with np.load(source, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
    header.update(changes)
    return np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)


@pytest.fixture
def good_file(tmp_path: Path, small_dataset: LabelledDataset) -> Path:
    return serving_file(
        "nblr", {"n_features_log2": 10, "mask_names": False}, small_dataset, tmp_path / "good.npz"
    )


def test_a_good_file_loads(good_file: Path) -> None:
    assert HashedLinearClassifier.from_file(good_file).classes == ("negative", "positive")


def test_a_vocabulary_model_keeps_only_its_columns(
    small_dataset: LabelledDataset, tmp_path: Path
) -> None:
    # 2**30 hashed columns: the file and the loaded model hold the kept ones only.
    classifier = SklearnClassifier("nblr", {"n_features_log2": 30, "min_df": 2})
    classifier.fit(small_dataset.texts, small_dataset.labels)
    model = hashed_linear_model(classifier)
    assert model is not None
    assert model.columns is not None
    model.save(tmp_path / FILE_NAME)
    loaded = HashedLinearModel.load(tmp_path / FILE_NAME)
    assert loaded.hashing.n_features == 2**30
    assert loaded.columns is not None
    assert loaded.coef.shape == (loaded.columns.size, 1)
    assert loaded.columns.size < 200_000
    assert np.all(np.diff(loaded.columns) > 0)
    texts = [*small_dataset.texts[:50], *ODD_TEXTS]
    np.testing.assert_allclose(
        HashedLinearClassifier(loaded).predict_proba(texts),
        classifier.pipeline.predict_proba(texts),
        rtol=0,
        atol=TOLERANCE,
    )


def test_a_model_without_a_non_zero_coefficient_round_trips(tmp_path: Path) -> None:
    # Every coefficient 0 (nothing learnt but the intercept): `save` writes empty coefficient
    # arrays, and they are a model, not a malformed file.
    model = HashedLinearModel(
        model_type="tfidf-lr",
        classes=("negative", "positive"),
        hashing=HashingSettings(n_features=16),
        coef=np.zeros((16, 1), dtype=np.float32),
        intercept=np.array([0.5], dtype=np.float32),
    )
    model.save(tmp_path / FILE_NAME)
    loaded = HashedLinearClassifier.from_file(tmp_path / FILE_NAME)
    assert loaded.model.coef.shape == (16, 1)
    assert not loaded.model.coef.any()
    expected = _sigmoid(np.array([0.5], dtype=np.float32))[0]
    np.testing.assert_allclose(loaded.predict_proba(["a fine film"])[:, 1], [expected], atol=0)


# Each malformed file, and the reason it must be refused for (see `LM_REFUSALS`).
REFUSALS = {
    "not_a_zip": "File is not a zip file",
    "random_bytes": "not an .npz (zip) archive",
    "empty": "not an .npz (zip) archive",
    "pickled_object": "Object arrays cannot be loaded when allow_pickle=False",
    "no_header": "unexpected arrays ['coef_features', 'coef_scores', 'coef_values', 'intercept']",
    "extra_array": "unexpected arrays",
    "other_format": "version 99, expected",
    "one_class": "need at least two distinct ones",
    "feature_out_of_range": "a coefficient is outside the feature or score range",
    "float64_values": "coefficients must be int32 (feature, score) and float32 values",
    "nan_value": "coefficients must be finite",
    "bad_intercept": "the intercept must be 1 float32 values",
    "bad_hashing": "hashing settings must have exactly the keys",
    "bad_scale": "score_scale must be positive",
    "v3_without_vocabulary": "version 3 with vocabulary False",
    "vocabulary_in_v1": "version 1 with vocabulary True",
    "vocabulary_with_tfidf": "a vocabulary model has no TF-IDF and no context",
    "header_not_an_object": "the header is not a JSON object",
    "int64_features": "coefficients must be int32 (feature, score) and float32 values",
    "int64_scores": "coefficients must be int32 (feature, score) and float32 values",
    "two_dimensional": "coefficient arrays of different shapes",
    "one_value_missing": "coefficient arrays of different shapes",
    "negative_feature": "a coefficient is outside the feature or score range",
    "negative_score": "a coefficient is outside the feature or score range",
    "score_out_of_range": "a coefficient is outside the feature or score range",
    "no_intercept": "the intercept must be 1 float32 values",
    "float64_intercept": "the intercept must be 1 float32 values",
    "infinite_intercept": "coefficients must be finite",
    "table_in_v3": "version 3 has no language model",
    "feature_one_past_the_last": "a coefficient is outside the feature or score range",
    "two_scores_for_two_classes": "2 score columns for 2 classes",
    "more_scores_than_allowed": "1025 score columns for 1025 classes",
    "float_version": "version 3.0, expected",
    "boolean_version": "version True, expected",
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_malformed_file_is_refused(good_file: Path, tmp_path: Path, case: str) -> None:
    target = tmp_path / f"{case}.npz"
    with np.load(good_file, allow_pickle=False) as archive:
        features = archive["coef_features"]
        scores = archive["coef_scores"]
        values = archive["coef_values"]
        intercept = archive["intercept"]
    if case == "not_a_zip":
        target.write_bytes(b"PK\x03\x04 not really")
    elif case == "random_bytes":  # numpy would take it for a pickle
        target.write_bytes(bytes(range(256)) * 4)
    elif case == "empty":
        target.write_bytes(b"")
    elif case == "pickled_object":
        # An object array is stored pickled: loading it would run code, so it is refused.
        rewrite(good_file, target, header=np.array([{"a": 1}], dtype=object))
    elif case == "no_header":
        rewrite(good_file, target, header=None)
    elif case == "extra_array":
        rewrite(good_file, target, surprise=np.zeros(3))
    elif case == "other_format":
        rewrite(good_file, target, header=header_with(good_file, format_version=99))
    elif case == "float_version":  # 3.0 == 3: it was read as version 3
        rewrite(good_file, target, header=header_with(good_file, format_version=3.0))
    elif case == "boolean_version":  # True == 1: it was read as version 1
        rewrite(good_file, target, header=header_with(good_file, format_version=True))
    elif case == "one_class":
        rewrite(good_file, target, header=header_with(good_file, classes=["only"]))
    elif case == "feature_out_of_range":
        rewrite(good_file, target, coef_features=features + np.int32(2**10))
    elif case == "float64_values":
        rewrite(good_file, target, coef_values=values.astype(np.float64))
    elif case == "nan_value":
        rewrite(good_file, target, coef_values=np.full_like(values, np.nan))
    elif case == "bad_intercept":
        rewrite(good_file, target, intercept=np.zeros(2, dtype=np.float32))
    elif case == "bad_hashing":
        hashing = {"token_pattern": r"(\w+)", "n_features": 2**10}
        rewrite(good_file, target, header=header_with(good_file, hashing=hashing))
    elif case == "bad_scale":
        rewrite(good_file, target, header=header_with(good_file, score_scale=-1))
    elif case == "v3_without_vocabulary":
        rewrite(good_file, target, header=header_with(good_file, vocabulary=False))
    elif case == "vocabulary_in_v1":
        rewrite(good_file, target, header=header_with(good_file, format_version=1))
    elif case == "vocabulary_with_tfidf":
        tfidf = {"sublinear_tf": True, "norm": "l2", "has_idf": False}
        rewrite(good_file, target, header=header_with(good_file, tfidf=tfidf))
    elif case == "header_not_an_object":  # JSON, but a list: no `.get` for the checks after
        rewrite(good_file, target, header=np.frombuffer(b"[3, 5]", dtype=np.uint8))
    elif case == "int64_features":
        rewrite(good_file, target, coef_features=features.astype(np.int64))
    elif case == "int64_scores":
        rewrite(good_file, target, coef_scores=scores.astype(np.int64))
    elif case == "two_dimensional":
        columns = {"coef_features": features, "coef_scores": scores, "coef_values": values}
        rewrite(good_file, target, **{k: v.reshape(-1, 1) for k, v in columns.items()})
    elif case == "one_value_missing":
        rewrite(good_file, target, coef_values=values[:-1])
    elif case == "negative_feature":
        rewrite(good_file, target, coef_features=np.where(features == features[0], -1, features))
    elif case == "negative_score":
        rewrite(good_file, target, coef_scores=scores - np.int32(1))
    elif case == "score_out_of_range":
        rewrite(good_file, target, coef_scores=scores + np.int32(1))
    elif case == "no_intercept":
        rewrite(good_file, target, intercept=None)
    elif case == "float64_intercept":
        rewrite(good_file, target, intercept=intercept.astype(np.float64))
    elif case == "infinite_intercept":
        rewrite(good_file, target, intercept=np.full_like(intercept, np.inf))
    elif case == "feature_one_past_the_last":  # the hashed columns are 0 .. 2**10 - 1
        rewrite(good_file, target, coef_features=features + (np.int32(2**10) - features.max()))
    elif case == "two_scores_for_two_classes":  # consistent arrays, but not the binary layout
        header = header_with(good_file, n_scores=2)
        rewrite(good_file, target, header=header, intercept=np.zeros(2, dtype=np.float32))
    elif case == "more_scores_than_allowed":  # one score column per class, past the limit
        header = header_with(good_file, classes=[f"c{k}" for k in range(1025)], n_scores=1025)
        rewrite(good_file, target, header=header, intercept=np.zeros(1025, dtype=np.float32))
    elif case == "table_in_v3":  # a language model's table, in a file whose header has none
        rewrite(good_file, target, lm_columns_1=np.arange(3, dtype=np.int32))
    with pytest.raises(ModelLoadError, match=re.escape(REFUSALS[case])):
        HashedLinearModel.load(target)
    assert zipfile.is_zipfile(good_file)


# Headers that are JSON objects but declare what a reader must not serve, and the reason.
HEADER_REFUSALS: dict[str, tuple[dict[str, object], str]] = {
    "another_format": ({"format": "sentiment.other"}, "format 'sentiment.other' version 3"),
    "duplicate_classes": ({"classes": ["a", "a"]}, "need at least two distinct ones"),
    "infinite_scale": ({"score_scale": math.inf}, "score_scale must be positive, got inf"),
    "zero_scale": ({"score_scale": 0}, "score_scale must be positive, got 0.0"),
    "hyperparameters_not_an_object": ({"hyperparameters": [1]}, "hyperparameters must be"),
    "language_model_in_v3": ({"language_model": {}}, "version 3 has no language model"),
    "context_in_v3": ({"context": {}}, "a vocabulary model has no TF-IDF and no context"),
    # The good file's coefficients read as a version-1 file with TF-IDF settings it cannot use.
    "unknown_norm": (
        {
            "format_version": 1,
            "vocabulary": False,
            "tfidf": {"sublinear_tf": True, "norm": "l3", "has_idf": False},
        },
        "unknown TF-IDF norm 'l3'",
    ),
    "idf_missing": (
        {
            "format_version": 1,
            "vocabulary": False,
            "tfidf": {"sublinear_tf": True, "norm": "l2", "has_idf": True},
        },
        "idf must be 1024 float32 values",
    ),
}


@pytest.mark.parametrize("case", sorted(HEADER_REFUSALS))
def test_a_file_whose_header_declares_what_cannot_be_served_is_refused(
    good_file: Path, tmp_path: Path, case: str
) -> None:
    changes, reason = HEADER_REFUSALS[case]
    target = rewrite(good_file, tmp_path / f"{case}.npz", header=header_with(good_file, **changes))
    with pytest.raises(ModelLoadError, match=re.escape(reason)):
        HashedLinearModel.load(target)


@pytest.fixture
def masked_file(tmp_path: Path, small_dataset: LabelledDataset) -> Path:
    return serving_file("nblr", {"n_features_log2": 10}, small_dataset, tmp_path / "masked.npz")


def test_a_masked_file_loads_masking(masked_file: Path) -> None:
    assert HashedLinearModel.load(masked_file).mask_names


OTHER_RULE = "masks names by"  # the reader's refusal of a rule other than its own


@pytest.mark.parametrize(
    ("case", "changes", "reason"),
    [
        ("another_pattern", {"mask_names": {**rule(), "pattern": "[A-Z]+"}}, OTHER_RULE),
        ("another_placeholder", {"mask_names": {**rule(), "placeholder": "X"}}, OTHER_RULE),
        (
            "another_rule_version",
            {"mask_names": {**rule(), "version": RULE_VERSION + 1}},
            OTHER_RULE,
        ),
        (
            "no_rule_version",
            {"mask_names": {"pattern": NAME.pattern, "placeholder": PLACEHOLDER}},
            OTHER_RULE,
        ),
        ("no_rule", {"mask_names": None}, "masks names by None"),
        ("base_version_5", {"base_version": 5}, "version 5 extends version 5"),
        ("no_base_version", {"base_version": None}, "version 5 extends version None"),
        ("float_base_version", {"base_version": 3.0}, "version 5 extends version 3.0"),
        ("masking_in_v3", {"format_version": 3}, "version 3 masks no names"),
    ],
)
def test_a_malformed_masked_file_is_refused(
    masked_file: Path, tmp_path: Path, case: str, changes: dict[str, object], reason: str
) -> None:
    # A reader must never serve a masked model unmasked, or with a rule other than its own.
    target = tmp_path / f"{case}.npz"
    rewrite(masked_file, target, header=header_with(masked_file, **changes))
    with pytest.raises(ModelLoadError, match=re.escape(reason)):
        HashedLinearModel.load(target)


@pytest.fixture
def lm_file(tmp_path: Path, small_dataset: LabelledDataset) -> Path:
    return serving_file("nblr-lm", {"n_features_log2": 12}, small_dataset, tmp_path / "lm.npz")


def test_a_language_model_file_loads(lm_file: Path) -> None:
    loaded = HashedLinearModel.load(lm_file)
    assert loaded.language_model is not None
    assert loaded.language_model.tables.order == 3
    assert HashedLinearClassifier(loaded).classes == ("negative", "positive")


# Each malformed language-model file, and the reason it must be refused for: a file refused for
# another reason would not show that its own check works.
LM_REFUSALS = {
    "missing_table": "expected the arrays",
    "extra_table": "expected the arrays",
    "order_beyond_hashing": "order 4 and ngram_max 3 for n-grams up to 3",
    "language_model_in_v3": "version 3 has no language model",
    "v4_without_language_model": "language_model must have exactly the keys",
    "column_out_of_range": "outside the hashed features",
    "float_counts": "language model counts must be",
    "negative_tokens": "language model tokens must be two counts",
    "three_stacker_inputs": "the stacker takes 3 inputs, not 2",
}


@pytest.mark.parametrize("case", sorted(LM_REFUSALS))
def test_a_malformed_language_model_file_is_refused(
    lm_file: Path, tmp_path: Path, case: str
) -> None:
    target = tmp_path / f"{case}.npz"
    with np.load(lm_file, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
        columns, counts = archive["lm_columns_2"], archive["lm_counts_2"]
    spec = header["language_model"]
    if case == "missing_table":
        rewrite(lm_file, target, lm_histories_2=None)
    elif case == "extra_table":
        rewrite(lm_file, target, lm_columns_4=columns, lm_counts_4=counts)
    elif case == "order_beyond_hashing":
        changed = {**spec, "order": 4}
        rewrite(lm_file, target, header=header_with(lm_file, language_model=changed))
    elif case == "language_model_in_v3":  # a masked file whose base version has no LM
        rewrite(lm_file, target, header=header_with(lm_file, base_version=3))
    elif case == "v4_without_language_model":
        no_lm = {k: v for k, v in header.items() if k != "language_model"}
        with target.open("wb") as handle:
            arrays = dict(np.load(lm_file, allow_pickle=False))
            arrays["header"] = np.frombuffer(json.dumps(no_lm).encode(), dtype=np.uint8)
            np.savez(handle, **arrays)
    elif case == "column_out_of_range":
        rewrite(lm_file, target, lm_columns_2=columns + np.int32(2**12))
    elif case == "float_counts":
        rewrite(lm_file, target, lm_counts_2=counts.astype(np.float64))
    elif case == "negative_tokens":
        changed = {**spec, "tokens": [-1, 5]}
        rewrite(lm_file, target, header=header_with(lm_file, language_model=changed))
    elif case == "three_stacker_inputs":
        stacker = {
            key: [*value, 1.0] if isinstance(value, list) else value
            for key, value in spec["stacker"].items()
        }
        changed = {**spec, "stacker": stacker}
        rewrite(lm_file, target, header=header_with(lm_file, language_model=changed))
    with pytest.raises(ModelLoadError, match=re.escape(LM_REFUSALS[case])):
        HashedLinearClassifier.from_file(target)


@pytest.mark.parametrize(
    ("binary", "norm"),
    [(True, "l2"), (False, "l2"), (False, None), (True, None)],
    ids=["binary-l2", "counts-l2", "counts", "binary"],
)
def test_hashed_features_without_tfidf_are_served_as_the_pipeline_scores_them(
    small_dataset: LabelledDataset,
    reviews: list[str],
    binary: bool,
    norm: str | None,
    tmp_path: Path,
) -> None:
    # No TF-IDF step: the values are counts, 1s, or a row's l2-normalised ones.
    vectorizer = HashingVectorizer(
        n_features=2**12, alternate_sign=False, binary=binary, norm=norm, dtype=np.float32
    )
    pipeline = Pipeline([("vectorizer", vectorizer), ("classifier", LogisticRegression())])
    pipeline.fit(list(small_dataset.texts), list(small_dataset.labels))
    served = exported(SklearnClassifier("tfidf-lr", pipeline=pipeline), tmp_path)
    expected = pipeline.predict_proba(reviews)
    np.testing.assert_allclose(served.predict_proba(reviews), expected, rtol=0, atol=1e-6)
    one_by_one = np.vstack([served.predict_proba([text]) for text in reviews])
    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_score_scale_multiplies_the_scores(
    small_dataset: LabelledDataset, reviews: list[str], n_classes: int, tmp_path: Path
) -> None:
    labels = list(small_dataset.labels)
    if n_classes == 3:
        labels = [label if i % 3 else "neutral" for i, label in enumerate(labels)]
    classifier = SklearnClassifier("tfidf-lr", TINY_HYPERPARAMETERS)
    classifier.fit(small_dataset.texts, labels)
    model = exported(classifier, tmp_path).model
    scaled = HashedLinearClassifier(dataclasses.replace(model, score_scale=2.0))
    scores = HashedLinearClassifier(model).decision_function(reviews) * np.float32(2.0)
    if n_classes == 2:
        positive = _sigmoid(scores[:, 0])
        expected = np.stack([1 - positive, positive], axis=1)
    else:
        expected = np.exp(scores - scores.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scaled.predict_proba(reviews), expected, rtol=0, atol=1e-6)
    assert not np.allclose(
        scaled.predict_proba(reviews),
        HashedLinearClassifier(model).predict_proba(reviews),
        atol=1e-3,
    )


def test_a_context_model_with_a_score_scale_is_refused(
    small_dataset: LabelledDataset, tmp_path: Path
) -> None:
    path = serving_file("nblr-ctx", dict(TINY_HYPERPARAMETERS), small_dataset, tmp_path / "ctx.npz")
    model = HashedLinearModel.load(path)
    with pytest.raises(ModelLoadError, match="a context model has no score scale"):
        HashedLinearClassifier(dataclasses.replace(model, score_scale=2.0))


def test_texts_it_cannot_read_are_a_classifier_error(
    trained: SklearnClassifier, tmp_path: Path
) -> None:
    served = exported(trained, tmp_path)
    with pytest.raises(ClassifierError, match="cannot vectorize the texts"):
        served.predict_proba([b"bytes, not a text"])  # type: ignore[list-item]
