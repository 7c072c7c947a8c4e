"""`nblr-ctx` end to end on a few hundred reviews: fit, skops and serving.npz round trips with
the same predictions, the format version, and the model type through the training CLI."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from sentiment.adapters import skops_format
from sentiment.adapters.context_model import NegationContextClassifier
from sentiment.adapters.context_scoring import Stacker, split_sentences
from sentiment.adapters.hashed_linear import FILE_NAME, HashedLinearModel
from sentiment.adapters.hashed_linear_classifier import HashedLinearClassifier
from sentiment.adapters.hyperparameters import DEFAULTS
from sentiment.adapters.nb_logistic import NbSettings, fit_folded
from sentiment.adapters.serving_export import hashed_linear_model
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.adapters.text_hashing import NgramHasher
from sentiment.domain.errors import ModelLoadError
from sentiment.domain.model import LabelledDataset
from sentiment.entrypoints.train import main
from tests.conftest import sample_frame

ODD_TEXTS = ["", "!!!", "br br <br />", "not. not! no", "ΟΔΟΣ İstanbul café 😀", "a\x00b"]
# Without name masking: the serving file is a plain version 2 (masked files: test_hashed_linear).
HYPERPARAMETERS = {"n_features_log2": 14, "negation_window": 2, "mask_names": False}


@pytest.fixture(scope="module")
def reviews(shared_frame: pd.DataFrame) -> list[str]:
    texts = [str(t) for t in sample_frame(shared_frame, 200, seed=31)["text"].tolist()]
    return [*texts, *ODD_TEXTS]


@pytest.fixture(scope="module")
def trained(small_dataset: LabelledDataset) -> SklearnClassifier:
    classifier = SklearnClassifier("nblr-ctx", HYPERPARAMETERS)
    classifier.fit(small_dataset.texts, small_dataset.labels)
    return classifier


def served(classifier: SklearnClassifier, folder: Path) -> HashedLinearClassifier:
    model = hashed_linear_model(classifier)
    assert model is not None
    model.save(folder / FILE_NAME)
    return HashedLinearClassifier.from_file(folder / FILE_NAME)


def test_its_defaults_are_the_model_types() -> None:
    defaults = {k: v for k, v in DEFAULTS["nblr-ctx"].items() if k != "mask_names"}
    assert NegationContextClassifier().get_params() == {**defaults, "random_state": 0}


def test_it_fits_with_its_hyperparameters(trained: SklearnClassifier) -> None:
    assert trained.hyperparameters() == {**DEFAULTS["nblr-ctx"], **HYPERPARAMETERS}
    (step,) = [s for _, s in trained.pipeline.steps]
    assert isinstance(step, NegationContextClassifier)
    assert step.coef_.shape == (2 * 2**14,)
    assert step.coef_.dtype == np.float32
    assert step.negation_window == 2
    assert trained.vectorizer.n_features == 2**14  # one block
    assert trained.classes == ("negative", "positive")


def aggregated(
    hasher: NgramHasher, texts: list[str], coef: np.ndarray, intercept: float
) -> list[list[float]]:
    """The 8 aggregates of `context_scoring`'s docstring, text by text: the review's score and
    its sentences' (each hashed alone), from the sparse product, aggregated in Python."""
    rows = []
    for text in texts:
        x = hasher.transform([text, *split_sentences(text)])
        scores = [float(v) + intercept for v in x @ coef.astype(np.float64)]
        review, sentence = scores[0], scores[1:]
        positive = sum(s > 0 for s in sentence) / len(sentence)
        mean, most, least = statistics.fmean(sentence), max(sentence), min(sentence)
        count = math.log(len(sentence))
        rows.append([review, mean, most, least, sentence[0], sentence[-1], positive, count])
    return rows


def test_the_stacker_is_fitted_on_each_texts_aggregates_by_a_model_that_did_not_see_it(
    trained: SklearnClassifier, small_dataset: LabelledDataset
) -> None:
    (step,) = [s for _, s in trained.pipeline.steps]
    texts, labels = list(small_dataset.texts), np.array(small_dataset.labels)
    classes = np.array(["negative", "positive"])
    hasher = step.hasher()
    matrix = hasher.transform(texts)
    settings = NbSettings(
        C=step.C, nb_alpha=step.nb_alpha, beta=step.beta, min_df=step.min_df, calibrate=False
    )
    coef, intercept = fit_folded(matrix, labels, classes, settings)
    np.testing.assert_array_equal(step.coef_, coef[0])
    np.testing.assert_array_equal(step.intercept_, intercept)
    folds = StratifiedKFold(step.inner_folds, shuffle=True, random_state=step.random_state)
    inputs = np.zeros((len(texts), 8))
    for train, held in folds.split(np.zeros(len(texts)), labels):
        c, b = fit_folded(matrix[train], labels[train], classes, settings)
        inputs[held] = aggregated(hasher, [texts[i] for i in held], c[0], float(b[0]))
    expected = Stacker.fit(inputs, labels == "positive", step.stack_C)
    got = step.stacker()
    for name in ("mean", "scale", "coef"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-6)
    assert got.intercept == pytest.approx(expected.intercept, rel=1e-6, abs=1e-9)


def test_skops_and_serving_npz_predict_exactly_what_it_predicts(
    trained: SklearnClassifier, reviews: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "model.skops"
    skops_format.dump(trained.pipeline, path)
    assert "sentiment.adapters.context_model.NegationContextClassifier" in (
        skops_format.types_in(path)
    )
    from_skops = SklearnClassifier("nblr-ctx", pipeline=skops_format.load(path))
    from_npz = served(trained, tmp_path)
    expected = trained.predict_proba(reviews)
    np.testing.assert_array_equal(trained.pipeline.predict_proba(reviews), expected)
    np.testing.assert_array_equal(from_skops.predict_proba(reviews), expected)
    np.testing.assert_array_equal(from_npz.predict_proba(reviews), expected)
    for i, text in enumerate(reviews[:20] + ODD_TEXTS):  # alone as in a batch
        alone = from_npz.predict_proba([text])
        np.testing.assert_array_equal(alone, trained.predict_proba([text]))
        if i < 20:
            np.testing.assert_array_equal(alone[0], expected[i])
    labels = [p.label for p in trained.predict(reviews)]
    assert [p.label for p in from_npz.predict(reviews)] == labels
    assert list(trained.pipeline.predict(np.array(reviews))) == labels
    assert from_npz.model_type == "nblr-ctx"
    assert from_npz.hyperparameters() == trained.hyperparameters()


def test_an_untrusted_loader_refuses_it(trained: SklearnClassifier, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    skops_format.dump(trained.pipeline, path)
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    others = [t for t in skops_format.TRUSTED_TYPES if "context_model" not in t]
    with pytest.raises(UntrustedTypesFoundException, match="NegationContextClassifier"):
        sio.load(path, trusted=others)


def header_of(path: Path) -> dict[str, object]:
    with np.load(path, allow_pickle=False) as archive:
        header: dict[str, object] = json.loads(archive["header"].tobytes())
    return header


def with_header(source: Path, target: Path, **changes: object) -> Path:
    with np.load(source, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = header_of(source)
    for key, value in changes.items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with target.open("wb") as handle:
        np.savez(handle, **arrays)
    return target


def test_the_serving_file_is_format_version_2(trained: SklearnClassifier, tmp_path: Path) -> None:
    served(trained, tmp_path)
    header = header_of(tmp_path / FILE_NAME)
    assert header["format_version"] == 2  # a version-1 reader refuses it
    context = header["context"]
    assert isinstance(context, dict)
    assert set(context) == {"negation", "stacker"}
    assert context["negation"]["window"] == 2


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"format_version": 1}, "version 1 has no context"),  # version 1 with a context
        # version 2 without one
        ({"context": None}, "context must have exactly the keys negation, stacker"),
        ({"format_version": 3}, "version 3 with vocabulary None"),
        (
            {"context": {"negation": {"window": 0, "negators": ["not"]}, "stacker": {}}},
            "negation window must be",
        ),
        ({"classes": ["a", "b", "c"], "n_scores": 3}, "a context model has two classes"),
        ({"tfidf": {"sublinear_tf": True, "norm": "l2", "has_idf": False}}, "without TF-IDF"),
    ],
    ids=["v1-with-context", "v2-without", "v3", "bad-context", "three-classes", "tfidf"],
)
def test_a_malformed_context_file_is_refused(
    trained: SklearnClassifier, tmp_path: Path, changes: dict[str, object], reason: str
) -> None:
    served(trained, tmp_path)
    target = with_header(tmp_path / FILE_NAME, tmp_path / "bad.npz", **changes)
    with pytest.raises(ModelLoadError, match=re.escape(reason)):
        HashedLinearModel.load(target)


def test_a_bad_stacker_is_refused(trained: SklearnClassifier, tmp_path: Path) -> None:
    served(trained, tmp_path)
    context = header_of(tmp_path / FILE_NAME)["context"]
    assert isinstance(context, dict)
    context["stacker"]["scale"] = [0.0] * 8
    target = with_header(tmp_path / FILE_NAME, tmp_path / "bad.npz", context=context)
    with pytest.raises(ModelLoadError, match="scale"):
        HashedLinearModel.load(target)


def test_negators_that_could_never_match_are_refused(
    trained: SklearnClassifier, tmp_path: Path
) -> None:
    # The texts are lowercased before negators are matched: "Never" would mark nothing, so the
    # file would be served without the marking it declares.
    served(trained, tmp_path)
    header = header_of(tmp_path / FILE_NAME)
    context, hashing = header["context"], header["hashing"]
    assert isinstance(context, dict)
    assert isinstance(hashing, dict)
    context["negation"]["negators"] = ["not", "Never"]
    target = with_header(tmp_path / FILE_NAME, tmp_path / "bad.npz", context=context)
    with pytest.raises(ModelLoadError, match=re.escape("negators ['Never'] never match")):
        HashedLinearModel.load(target)
    # Texts hashed as written: "Never" is a word of them, and the file loads.
    hashing["lowercase"] = False
    target = with_header(target, tmp_path / "as_written.npz", hashing=hashing)
    model = HashedLinearModel.load(target)
    assert model.context is not None
    assert model.context.negation.negators == ("not", "Never")
    assert not model.hashing.lowercase


def test_the_training_cli_trains_and_logs_it(
    small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(small_csv), "--registry", "memory", "--model-type", "nblr-ctx"]
    args += ["-p", "n_features_log2=12", "-p", "inner_folds=2", "--output-json", "r.json"]
    assert main(args) == 0
    params = json.loads((tmp_path / "r.json").read_text())["params"]
    assert params["model_type"] == "nblr-ctx"
    assert params["hp_inner_folds"] == 2
    assert params["hp_negation_window"] == 3
    assert params["hp_stack_C"] == 1.0
