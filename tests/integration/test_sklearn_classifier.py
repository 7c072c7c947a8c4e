"""SklearnClassifier: both model types on a small IMDB sample, and its refusals."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sentiment.adapters import skops_format
from sentiment.adapters.hyperparameters import DEFAULTS, parse_hyperparameters
from sentiment.adapters.name_masker import NameMasker
from sentiment.adapters.name_masking import rule, rule_key
from sentiment.adapters.sklearn_classifier import (
    STACKED_ESTIMATORS,
    TWO_CLASSES_ONLY,
    SklearnClassifier,
    SklearnClassifierFactory,
    model_type_of,
)
from sentiment.domain.errors import ClassifierError, ModelLoadError, NotFittedError
from sentiment.domain.metrics import evaluate
from sentiment.domain.model import LabelledDataset, ParamValue
from tests.conftest import TINY_HYPERPARAMETERS

MODEL_TYPES = sorted(DEFAULTS)
MULTICLASS_TYPES = [t for t in MODEL_TYPES if t not in TWO_CLASSES_ONLY]


@pytest.fixture(scope="module", params=MODEL_TYPES)
def trained(request: pytest.FixtureRequest, small_dataset: LabelledDataset) -> SklearnClassifier:
    classifier = SklearnClassifier(request.param, TINY_HYPERPARAMETERS)
    classifier.fit(small_dataset.texts, small_dataset.labels)
    return classifier


def test_learns_the_classes_and_beats_chance_on_held_out_reviews(
    trained: SklearnClassifier, holdout_dataset: LabelledDataset
) -> None:
    assert trained.classes == ("negative", "positive")
    predictions = trained.predict(holdout_dataset.texts)
    assert len(predictions) == len(holdout_dataset)
    scores = evaluate(holdout_dataset.labels, [p.label for p in predictions])
    # 300 training reviews are few; chance is 0.5. Deterministic: fixed sample and seed.
    assert scores.accuracy > 0.65, scores.accuracy


def test_probabilities_cover_every_class_sum_to_one_and_pick_the_label(
    trained: SklearnClassifier, holdout_dataset: LabelledDataset
) -> None:
    for prediction in trained.predict(holdout_dataset.texts[:20]):
        assert set(prediction.probabilities) == {"negative", "positive"}
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
        assert all(0.0 <= p <= 1.0 for p in prediction.probabilities.values())
        assert prediction.label == max(
            prediction.probabilities, key=prediction.probabilities.__getitem__
        )
        assert prediction.confidence >= 0.5


def test_obvious_reviews(trained: SklearnClassifier) -> None:
    texts = [
        "A wonderful, moving film. Brilliant acting, I loved every minute of it!",
        "The worst movie I have ever seen. Boring, stupid and a complete waste of time.",
    ]
    assert [p.label for p in trained.predict(texts)] == ["positive", "negative"]


def test_predicting_nothing_gives_nothing(trained: SklearnClassifier) -> None:
    assert trained.predict([]) == []


def test_a_prediction_does_not_depend_on_its_batch(trained: SklearnClassifier) -> None:
    texts = ["great film", "terrible film", "an average film"]
    alone = [trained.predict([t])[0] for t in texts]
    assert trained.predict(texts) == alone


def test_fitting_is_deterministic(
    trained: SklearnClassifier, small_dataset: LabelledDataset, holdout_dataset: LabelledDataset
) -> None:
    again = SklearnClassifier(trained.model_type, TINY_HYPERPARAMETERS)
    again.fit(small_dataset.texts, small_dataset.labels)
    first = trained.predict(holdout_dataset.texts[:10])
    second = again.predict(holdout_dataset.texts[:10])
    assert [p.label for p in first] == [p.label for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities)


def test_hyperparameters_are_the_defaults_with_the_overrides(trained: SklearnClassifier) -> None:
    params = trained.hyperparameters()
    assert params == {**DEFAULTS[trained.model_type], **TINY_HYPERPARAMETERS}
    assert trained.vectorizer.n_features == 2**16


def test_the_pipeline_is_stored_with_trusted_types_only(
    trained: SklearnClassifier, tmp_path: Path
) -> None:
    path = tmp_path / "model.skops"
    skops_format.dump(trained.pipeline, path)
    assert skops_format.types_in(path) <= set(skops_format.TRUSTED_TYPES)
    assert "sentiment.adapters.name_masker.NameMasker" in skops_format.types_in(path)
    loaded = SklearnClassifier(trained.model_type, pipeline=skops_format.load(path))
    texts = ["good", "bad", "so so", "a dull film, and Tom Hanks is awful in it"]
    assert loaded.classes == trained.classes
    assert loaded.masks_names
    for a, b in zip(loaded.predict(texts), trained.predict(texts), strict=True):
        assert a.label == b.label
        assert a.probabilities == pytest.approx(b.probabilities)


def test_names_are_masked_before_anything_else(trained: SklearnClassifier) -> None:
    assert trained.masks_names  # every type's default
    assert trained.pipeline.steps[0][0] == "names"
    texts = [f"a dull film, and {name} is awful in it" for name in ("Tom Hanks", "Kurosawa")]
    first, second = trained.predict(texts)
    assert first == second
    assert trained.pipeline.predict_proba(texts).tolist() == trained.predict_proba(texts).tolist()


def test_a_pipeline_trained_on_names_masked_by_another_rule_is_refused(
    trained: SklearnClassifier, tmp_path: Path
) -> None:
    # The masker records the rule its model learnt from; a model saved before maskers recorded
    # it (an unfitted masker, as fit inserted one), or under another rule, would be served
    # differently from how it was trained: it is refused, as a serving file of another rule is.
    masker = trained.pipeline.steps[0][1]
    assert isinstance(masker, NameMasker)
    assert masker.rule_ == rule_key() == json.dumps(rule(), sort_keys=True)
    skops_format.dump(trained.pipeline, tmp_path / "model.skops")
    loaded = skops_format.load(tmp_path / "model.skops")
    assert SklearnClassifier(trained.model_type, pipeline=loaded).masks_names
    older_rule = {**rule(), "pattern": r"(?<=[a-z,;:] )[A-Z][a-z]+(?: [A-Z][a-z]+)*"}
    for recorded, shown in ((None, "an unrecorded rule"), (older_rule, "the rule {")):
        old = NameMasker() if recorded is None else NameMasker().fit([])
        if recorded is not None:
            old.rule_ = json.dumps(recorded, sort_keys=True)
        steps = [("names", old), *trained.pipeline.steps[1:]]
        skops_format.dump(Pipeline(steps), tmp_path / "old.skops")
        pipeline = skops_format.load(tmp_path / "old.skops")
        message = (
            f"the pipeline was trained on names masked by {re.escape(shown)}.*; this code masks "
            f"them by {re.escape(rule_key())}: train the model again"
        )
        with pytest.raises(ClassifierError, match=message):
            SklearnClassifier(trained.model_type, pipeline=pipeline)
        with pytest.raises(ClassifierError, match=message):
            SklearnClassifier.from_pipeline(pipeline, None)


def test_a_pipeline_shows_its_model_type_and_no_other_is_taken_for_it(
    trained: SklearnClassifier, tmp_path: Path
) -> None:
    skops_format.dump(trained.pipeline, tmp_path / "model.skops")
    pipeline = skops_format.load(tmp_path / "model.skops")
    assert model_type_of(pipeline) == trained.model_type
    # Nothing recorded beside the file: the steps say which type it is, not a default.
    assert SklearnClassifier.from_pipeline(pipeline, None).model_type == trained.model_type
    assert SklearnClassifier.from_pipeline(pipeline, "").model_type == trained.model_type
    for other in MODEL_TYPES:
        if other != trained.model_type:
            message = f"the pipeline is a {trained.model_type} model, not {other}"
            with pytest.raises(ClassifierError, match=message):
                SklearnClassifier(other, pipeline=pipeline)
            with pytest.raises(ClassifierError, match=message):
                SklearnClassifier.from_pipeline(pipeline, other)


def test_a_pipeline_built_elsewhere_shows_no_model_type(small_dataset: LabelledDataset) -> None:
    vectorizer = HashingVectorizer(n_features=2**12)
    pipeline = Pipeline([("vectorizer", vectorizer), ("classifier", LogisticRegression())])
    pipeline.fit(list(small_dataset.texts), list(small_dataset.labels))
    assert model_type_of(pipeline) is None
    with pytest.raises(
        ClassifierError,
        match=r"no model type recorded, and its steps \[.*"
        r"'HashingVectorizer', 'LogisticRegression'\] show none",
    ):
        SklearnClassifier.from_pipeline(pipeline, None)
    # Recorded beside it, the type is taken: the steps do not contradict it.
    assert SklearnClassifier.from_pipeline(pipeline, "tfidf-lr").model_type == "tfidf-lr"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_the_pipeline_not_the_setting_says_whether_names_are_masked(
    model_type: str, small_dataset: LabelledDataset, tmp_path: Path
) -> None:
    # A model stored without masking (as before masking existed) loads as one that masks none,
    # whatever the type's default is now; its hyperparameters say so.
    unmasked = SklearnClassifier(model_type, {**TINY_HYPERPARAMETERS, "mask_names": False})
    unmasked.fit(small_dataset.texts, small_dataset.labels)
    skops_format.dump(unmasked.pipeline, tmp_path / "model.skops")
    loaded = SklearnClassifier(model_type, pipeline=skops_format.load(tmp_path / "model.skops"))
    assert DEFAULTS[model_type]["mask_names"] is True
    assert not loaded.masks_names
    assert loaded.hyperparameters()["mask_names"] is False
    assert model_type_of(loaded.pipeline) == model_type
    texts = ["a dull film, and Tom Hanks is awful in it", "a dull film, and Bo is awful in it"]
    assert loaded.predict_proba(texts).tolist() == unmasked.predict_proba(texts).tolist()


@pytest.mark.parametrize("trained", sorted(TWO_CLASSES_ONLY), indirect=True)
def test_stacked_types_build_their_scorer_once(trained: SklearnClassifier) -> None:
    # MLflow's pyfunc calls the pipeline's predict: it must not rebuild the scorer each time.
    # (The other types are scored by their scikit-learn pipeline itself.)
    step = trained.pipeline[-1]
    first = step.scorer()
    trained.pipeline.predict_proba(["good", "bad"])
    assert step.scorer() is first
    assert "_scorer_cache" not in step.__getstate__()  # saved without it


@pytest.mark.parametrize("model_type", MULTICLASS_TYPES)
def test_more_than_two_classes(model_type: str) -> None:
    words = {"positive": "wonderful superb", "negative": "awful dreadful", "neutral": "okay fine"}
    texts, labels = [], []
    for i in range(30):
        for label, phrase in words.items():
            texts.append(f"{phrase} film {i}")
            labels.append(label)
    classifier = SklearnClassifier(model_type, TINY_HYPERPARAMETERS)
    classifier.fit(texts, labels)
    assert classifier.classes == ("negative", "neutral", "positive")
    predictions = classifier.predict(["superb wonderful", "dreadful awful", "fine okay"])
    assert [p.label for p in predictions] == ["positive", "negative", "neutral"]
    for p in predictions:
        assert set(p.probabilities) == {"negative", "neutral", "positive"}
        assert sum(p.probabilities.values()) == pytest.approx(1.0)


# The stacked estimators themselves, as scikit-learn (or MLflow's pyfunc) would fit and use them.
STACKED_TEXTS = [f"a superb wonderful film {i}" for i in range(6)] + [
    f"an awful dreadful film {i}" for i in range(6)
]
STACKED_LABELS = ["pos"] * 6 + ["neg"] * 6


@pytest.mark.parametrize("model_type", sorted(TWO_CLASSES_ONLY))
def test_a_stacked_estimator_fitted_again_scores_with_its_new_arrays(model_type: str) -> None:
    estimator = STACKED_ESTIMATORS[model_type](n_features_log2=12, inner_folds=2, min_df=1)
    estimator.fit(STACKED_TEXTS, STACKED_LABELS)
    first = estimator.predict_proba(STACKED_TEXTS)
    flipped = STACKED_LABELS[::-1]
    estimator.fit(STACKED_TEXTS, flipped)
    fresh = clone(estimator).fit(STACKED_TEXTS, flipped)
    again = estimator.predict_proba(STACKED_TEXTS)
    np.testing.assert_array_equal(again, fresh.predict_proba(STACKED_TEXTS))
    assert not np.array_equal(again, first)
    assert estimator.predict(STACKED_TEXTS).tolist() == flipped
    # Its label is the likelier class, on unseen and undecided texts too.
    texts = [*STACKED_TEXTS, "a film", "superb", "awful", "", "a superb film, and awful"]
    likelier = [estimator.classes_[int(p > 0.5)] for p in estimator.predict_proba(texts)[:, 1]]
    assert estimator.predict(texts).tolist() == likelier


@pytest.mark.parametrize("model_type", sorted(TWO_CLASSES_ONLY))
def test_a_stacked_estimator_needs_inner_folds_texts_of_each_of_two_classes(
    model_type: str,
) -> None:
    estimator = STACKED_ESTIMATORS[model_type]
    # Exactly inner_folds texts of the smaller class fit; one fewer is refused, naming it.
    texts, labels = STACKED_TEXTS[:9], STACKED_LABELS[:9]  # six pos, three neg
    fitted = estimator(n_features_log2=12, inner_folds=3, min_df=1).fit(texts, labels)
    assert fitted.classes_.tolist() == ["neg", "pos"]
    message = rf"{model_type} needs at least inner_folds=4 texts of each class"
    with pytest.raises(ValueError, match=message):
        estimator(n_features_log2=12, inner_folds=4, min_df=1).fit(texts, labels)
    for classes in (["pos"] * 9, [*labels[:8], "meh"]):
        count = len(set(classes))
        with pytest.raises(
            ValueError, match=f"{model_type} needs exactly two classes, got {count}"
        ):
            estimator(n_features_log2=12, inner_folds=2, min_df=1).fit(texts, classes)


# -- refusals -----------------------------------------------------------------------------------


def test_predicting_before_fitting_raises_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        SklearnClassifier("tfidf-lr").predict(["text"])
    with pytest.raises(NotFittedError):
        _ = SklearnClassifier("nblr").pipeline


def test_an_unknown_model_type() -> None:
    with pytest.raises(
        ClassifierError, match="unknown model type 'bert'; known: nblr, nblr-ctx, nblr-lm, tfidf-lr"
    ):
        SklearnClassifier("bert")


def test_an_unknown_hyperparameter() -> None:
    with pytest.raises(ClassifierError, match="unknown hyperparameter\\(s\\) for nblr: gamma"):
        SklearnClassifier("nblr", {"gamma": 2})


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_one_class_cannot_be_fitted(model_type: str) -> None:
    with pytest.raises(ClassifierError, match="two classes"):
        SklearnClassifier(model_type).fit(["a", "b"], ["x", "x"])


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("C", -1.0, r"C must be in \[1e-06, 1000000.0\], got -1.0"),
        ("ngram_max", 2.5, "ngram_max must be an integer, got 2.5"),
        ("n_features_log2", "many", "n_features_log2 must be an integer, got 'many'"),
        ("max_iter", True, "max_iter must be a number, got True"),
        # Ints beyond a float (JSON settings, Python callers): out of range, not an OverflowError.
        ("max_iter", 10**400, r"max_iter must be in \[1, 1000000\], got 1000000000.*characters"),
        ("C", -(10**400), r"C must be in \[1e-06, 1000000.0\], got -100000000"),
        ("ngram_max", "1e999", r"ngram_max must be in \[1, 5\], got 1e999"),
    ],
)
def test_a_bad_hyperparameter_value_is_refused_before_fitting(
    model_type: str, name: str, value: ParamValue, message: str
) -> None:
    with pytest.raises(ClassifierError, match=message):
        SklearnClassifier(model_type, {name: value})


def test_an_int_too_long_to_print_is_refused_as_out_of_range() -> None:
    with pytest.raises(ClassifierError, match=r"min_df must be in \[1, 1000000\], got a number"):
        SklearnClassifier("nblr", {"min_df": 10**5000})


def test_hyperparameter_values_from_the_command_line_are_converted() -> None:
    classifier = SklearnClassifier("nblr", parse_hyperparameters(["C=2", "ngram_max=2.0"]))
    assert classifier.hyperparameters()["C"] == 2.0
    assert isinstance(classifier.hyperparameters()["C"], float)
    assert classifier.hyperparameters()["ngram_max"] == 2
    assert isinstance(classifier.hyperparameters()["ngram_max"], int)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("false", False), ("FALSE", False), (" False ", False), ("true", True), ("True", True)],
)
def test_a_bool_hyperparameter_accepts_true_and_false_strings(given: str, expected: bool) -> None:
    # SENTIMENT_HYPERPARAMETERS='{"calibrate": "false"}' gives the string, not a bool.
    classifier = SklearnClassifier("nblr", {"calibrate": given})
    assert classifier.hyperparameters()["calibrate"] is expected


@pytest.mark.parametrize("given", ["no", "0", "", 1, 0.0])
def test_a_bool_hyperparameter_refuses_other_values(given: ParamValue) -> None:
    with pytest.raises(ClassifierError, match="calibrate must be true or false"):
        SklearnClassifier("nblr", {"calibrate": given})


def test_a_model_file_with_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    from collections import OrderedDict

    path = tmp_path / "evil.skops"
    skops_format.dump(OrderedDict(a=np.zeros(2), b={1, 2}), path)
    with pytest.raises(ModelLoadError) as refused:
        skops_format.load(path)
    assert str(refused.value) == (
        "model file evil.skops holds untrusted types: builtins.set, collections.OrderedDict"
    )


def test_a_model_file_that_is_not_skops_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match=r"cannot read model file model\.skops"):
        skops_format.load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(ModelLoadError, match="cannot read model file"):
        skops_format.load(path)


def test_a_model_file_of_trusted_types_that_cannot_be_built_is_refused(tmp_path: Path) -> None:
    # Every type it names is trusted, but the array it points to is missing: a load error
    # naming the file, not skops' KeyError (nor a model of None).
    whole, damaged = tmp_path / "whole.skops", tmp_path / "model.skops"
    skops_format.dump({"coef": np.zeros(2)}, whole)
    assert skops_format.types_in(whole) <= set(skops_format.TRUSTED_TYPES)
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(damaged, "w") as target:
        for name in source.namelist():
            if not name.endswith(".npy"):
                target.writestr(name, source.read(name))
    with pytest.raises(ModelLoadError, match=r"cannot load model file model\.skops: "):
        skops_format.load(damaged)


def test_a_model_file_is_deflated_unless_told_not_to(tmp_path: Path) -> None:
    written = {"default": tmp_path / "a.skops", "stored": tmp_path / "b.skops"}
    skops_format.dump({"coef": np.zeros(1000)}, written["default"])
    skops_format.dump({"coef": np.zeros(1000)}, written["stored"], compress=False)
    kinds: dict[str, set[int]] = {}
    for name, path in written.items():
        with zipfile.ZipFile(path) as archive:
            kinds[name] = {info.compress_type for info in archive.infolist()}
    assert kinds == {"default": {zipfile.ZIP_DEFLATED}, "stored": {zipfile.ZIP_STORED}}


def test_a_schema_node_that_names_a_class_without_its_module_is_refused(tmp_path: Path) -> None:
    # A hand-made schema: the loader cannot build the node, a load error names the file.
    whole, crafted = tmp_path / "whole.skops", tmp_path / "model.skops"
    skops_format.dump({"coef": np.zeros(2)}, whole)
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(crafted, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "schema.json":
                schema = json.loads(data)
                del schema["content"]["coef"]["__module__"]
                data = json.dumps(schema).encode()
            target.writestr(name, data)
    with pytest.raises(ModelLoadError, match=r"cannot load model file model\.skops"):
        skops_format.load(crafted)


# -- the factory and the command-line hyperparameters -------------------------------------------


def test_the_factory_makes_fresh_classifiers_of_each_type() -> None:
    factory = SklearnClassifierFactory()
    assert factory.model_types == ("nblr", "nblr-ctx", "nblr-lm", "tfidf-lr")
    first = factory.create("nblr", {"C": 2.0})
    second = factory.create("nblr")
    assert first is not second
    assert first.hyperparameters()["C"] == 2.0
    assert second.hyperparameters()["C"] == DEFAULTS["nblr"]["C"]
    assert first.classes == ()


def test_parse_hyperparameters_types_the_values() -> None:
    parsed = parse_hyperparameters(["C=2.5", "ngram_max=3", "flag=true", "name=word", " x = -4 "])
    assert parsed == {"C": 2.5, "ngram_max": 3, "flag": True, "name": "word", "x": -4}
    assert isinstance(parsed["ngram_max"], int)


@pytest.mark.parametrize("pair", ["C", "=3", "  =x"])
def test_parse_hyperparameters_refuses_pairs_without_a_name(pair: str) -> None:
    with pytest.raises(ClassifierError, match="is not NAME=VALUE"):
        parse_hyperparameters([pair])


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_texts_and_labels_of_different_lengths_cannot_be_fitted(model_type: str) -> None:
    with pytest.raises(ClassifierError, match="3 texts but 2 labels"):
        SklearnClassifier(model_type).fit(["good", "bad", "fine"], ["pos", "neg"])


def test_a_fit_that_the_library_refuses_is_a_classifier_error() -> None:
    # Texts without a word: nblr keeps no column, and LogisticRegression refuses to fit none.
    with pytest.raises(ClassifierError, match=r"fitting nblr failed: .*0 feature\(s\)"):
        SklearnClassifier("nblr", {"n_features_log2": 12}).fit(["", "", "!", ""], list("abab"))
