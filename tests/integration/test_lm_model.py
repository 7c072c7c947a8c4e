"""`nblr-lm` on a few hundred reviews: its scorer's two stacker inputs are what their parts give
computed another way (the NB-LR one is `nblr`'s uncalibrated score, the language-model one the
class models' ratio with rows found by binary search), in any batch and across chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.model_selection import StratifiedKFold

from sentiment.adapters.class_lm import ClassLanguageModel, fit_tables
from sentiment.adapters.context_scoring import Stacker
from sentiment.adapters.hashed_vocabulary import HashedVocabulary
from sentiment.adapters.hyperparameters import DEFAULTS
from sentiment.adapters.lm_model import NbLanguageModelClassifier
from sentiment.adapters.lm_scoring import CHUNK, LmStackScorer
from sentiment.adapters.nb_logistic import NbSettings, fit_folded
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.adapters.text_hashing import NgramHasher
from sentiment.adapters.word_features import word_vectorizer
from sentiment.domain.model import LabelledDataset
from tests.conftest import sample_frame

ODD_TEXTS = ["", "!!!", "br br <br />", "not. not! no", "ΟΔΟΣ İstanbul café 😀", "a\x00b", "x"]
N_FEATURES_LOG2 = 14
# (ngram_max, lm_order): the NB-LR's n-grams as long as the language models', shorter, longer.
SHAPES = [(3, 3), (1, 3), (3, 2)]


@pytest.fixture(scope="module")
def reviews(shared_frame: pd.DataFrame) -> list[str]:
    texts = [str(t) for t in sample_frame(shared_frame, 200, seed=37)["text"].tolist()]
    return [*texts, *ODD_TEXTS]


@pytest.fixture(scope="module", params=SHAPES, ids=[f"ngram{a}-lm{b}" for a, b in SHAPES])
def fitted(
    request: pytest.FixtureRequest, small_dataset: LabelledDataset
) -> NbLanguageModelClassifier:
    ngram_max, lm_order = request.param
    model = NbLanguageModelClassifier(
        ngram_max=ngram_max, lm_order=lm_order, n_features_log2=N_FEATURES_LOG2
    )
    return model.fit(list(small_dataset.texts), list(small_dataset.labels))


def test_its_defaults_are_the_model_types() -> None:
    defaults = {k: v for k, v in DEFAULTS["nblr-lm"].items() if k != "mask_names"}
    assert NbLanguageModelClassifier().get_params() == {**defaults, "random_state": 0}


def nblr_scores(
    model: NbLanguageModelClassifier, dataset: LabelledDataset, texts: list[str]
) -> np.ndarray:
    """`nblr`'s decision, uncalibrated, with the model's NB-LR settings, fitted on the same data."""
    nblr = SklearnClassifier(
        "nblr",
        {
            "ngram_max": model.ngram_max,
            "n_features_log2": N_FEATURES_LOG2,
            "C": model.C,
            "nb_alpha": model.nb_alpha,
            "beta": model.beta,
            "min_df": model.min_df,
            "calibrate": False,
            "mask_names": False,
        },
    )
    nblr.fit(dataset.texts, dataset.labels)
    scores: np.ndarray = nblr.pipeline.decision_function(texts)
    return scores


def language_model_scores(model: NbLanguageModelClassifier, texts: list[str]) -> np.ndarray:
    """The class models' log-likelihood ratios, rows found by binary search, in one pass."""
    lm = ClassLanguageModel(model.tables())
    docs, grams = model.hasher().token_ngrams(texts)
    scores: np.ndarray = lm.scores(docs, grams, lm.rows(grams), len(texts))
    return scores


def test_the_inputs_are_nblr_and_the_language_models_scores(
    fitted: NbLanguageModelClassifier, small_dataset: LabelledDataset, reviews: list[str]
) -> None:
    texts = reviews * (CHUNK // len(reviews) + 2)  # more than one chunk, ending mid-chunk
    assert len(texts) % CHUNK != 0
    scorer = fitted.scorer()
    assert isinstance(scorer, LmStackScorer)
    inputs = scorer.inputs(texts)
    assert inputs.shape == (len(texts), 2)
    np.testing.assert_allclose(
        inputs[:, 0], nblr_scores(fitted, small_dataset, texts), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        inputs[:, 1], language_model_scores(fitted, texts), rtol=1e-9, atol=1e-9
    )
    assert np.ptp(inputs[: len(reviews)], axis=0).min() > 1.0  # the texts tell apart
    # Alone as in a batch: a text whose n-grams repeat ("!!!") counts each one once.
    for i in (0, 3, *range(len(reviews) - len(ODD_TEXTS), len(reviews))):
        np.testing.assert_array_equal(scorer.inputs([texts[i]])[0], inputs[i])
    np.testing.assert_array_equal(
        fitted.decision_function(texts), fitted.stacker().decision(inputs)
    )


def scorer_of(model: NbLanguageModelClassifier, **changes: object) -> LmStackScorer:
    parts: dict[str, object] = {
        "hasher": model.hasher(),
        "ngram_max": model.ngram_max,
        "columns": model.columns_,
        "coef": model.coef_,
        "intercept": float(model.intercept_[0]),
        "tables": model.tables(),
        "stacker": model.stacker(),
    }
    parts.update(changes)
    return LmStackScorer(**parts)  # type: ignore[arg-type]


def test_the_scorer_takes_what_the_model_holds(fitted: NbLanguageModelClassifier) -> None:
    # At the edges: n-grams as long as the hasher gives, for both parts.
    longest = max(fitted.ngram_max, fitted.lm_order)
    hasher = NgramHasher(word_vectorizer(longest, N_FEATURES_LOG2))
    scorer = scorer_of(fitted, hasher=hasher, ngram_max=longest)
    assert scorer.inputs(["a great film"]).shape == (1, 2)


@pytest.mark.parametrize(
    "case", ["short_coef", "2d", "three_inputs", "ngram_max_0", "ngram_max_long", "lm_long"]
)
def test_the_scorer_refuses_parts_that_do_not_fit(
    fitted: NbLanguageModelClassifier, case: str
) -> None:
    longest = max(fitted.ngram_max, fitted.lm_order)
    stacker = fitted.stacker()
    every: dict[str, dict[str, object]] = {
        "short_coef": {"coef": fitted.coef_[:-1]},
        "2d": {"columns": fitted.columns_[None, :], "coef": fitted.coef_[None, :]},
        "three_inputs": {
            "stacker": Stacker(
                np.append(stacker.mean, 0.0),
                np.append(stacker.scale, 1.0),
                np.append(stacker.coef, 1.0),
                stacker.intercept,
            )
        },
        "ngram_max_0": {"ngram_max": 0},
        "ngram_max_long": {"ngram_max": longest + 1},
        "lm_long": {"hasher": NgramHasher(word_vectorizer(fitted.lm_order - 1, N_FEATURES_LOG2))},
    }
    changes = every[case]
    reason = {"short_coef": "coefficients for", "2d": "coefficients for"}.get(
        case, "inputs, got 3" if case == "three_inputs" else "the hasher must give n-grams"
    )
    with pytest.raises(ValueError, match=reason):
        scorer_of(fitted, **changes)


def test_the_language_models_are_fitted_on_every_text(
    fitted: NbLanguageModelClassifier, small_dataset: LabelledDataset
) -> None:
    docs, grams = fitted.hasher().token_ngrams(list(small_dataset.texts))
    second = np.array(small_dataset.labels) == fitted.classes_[1]
    expected = fit_tables(docs, grams, second, fitted.lm_order, fitted.lm_min_count, 0.75)
    got = fitted.tables()
    assert got.order == fitted.lm_order
    for name in ("columns", "counts", "histories"):
        assert len(getattr(got, name)) == len(getattr(expected, name))
        for a, b in zip(getattr(got, name), getattr(expected, name), strict=True):
            np.testing.assert_array_equal(a, b, strict=True)
    np.testing.assert_array_equal(got.tokens, expected.tokens)
    assert (got.vocabulary, got.discount) == (expected.vocabulary, expected.discount)
    assert list(fitted.classes_) == ["negative", "positive"]


def test_the_stacker_is_fitted_on_each_texts_score_by_models_that_did_not_see_it(
    fitted: NbLanguageModelClassifier, small_dataset: LabelledDataset
) -> None:
    """Out of fold: the NB-LR fitted on the other folds' rows of the whole vocabulary's matrix
    (its interpolation's mean over the n-grams they hold), the language models on their texts."""
    texts, labels = list(small_dataset.texts), np.array(small_dataset.labels)
    classes, second = fitted.classes_, labels == fitted.classes_[1]
    matrix = sp.csr_matrix(fitted.block_vectorizer().transform(texts))
    kept = HashedVocabulary(min_df=fitted.min_df).fit(matrix).transform(matrix)
    folds = StratifiedKFold(fitted.inner_folds, shuffle=True, random_state=fitted.random_state)
    inputs = np.zeros((len(texts), 2))
    for train, held in folds.split(np.zeros(len(texts)), labels):
        seen = HashedVocabulary().fit(matrix[train]).n_seen_
        settings = NbSettings(
            C=fitted.C, min_df=fitted.min_df, calibrate=False, mean_over=seen
        )  # nb_alpha, beta, max_iter, random_state: the defaults, as the model's
        coef, intercept = fit_folded(kept[train], labels[train], classes, settings)
        inputs[held, 0] = kept[held] @ coef[0].astype(np.float64) + float(intercept[0])
        docs, grams = fitted.hasher().token_ngrams([texts[i] for i in train])
        tables = fit_tables(docs, grams, second[train], fitted.lm_order, fitted.lm_min_count, 0.75)
        lm = ClassLanguageModel(tables)
        docs, grams = fitted.hasher().token_ngrams([texts[i] for i in held])
        inputs[held, 1] = lm.scores(docs, grams, lm.rows(grams), held.size)
    expected = Stacker.fit(inputs, second, 1.0)
    got = fitted.stacker()
    for name in ("mean", "scale", "coef"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-6)
    assert got.intercept == pytest.approx(expected.intercept, rel=1e-6, abs=1e-9)


def test_fitted_again_it_scores_with_its_new_fit(small_dataset: LabelledDataset) -> None:
    texts, labels = list(small_dataset.texts), list(small_dataset.labels)
    probe = texts[:20]
    model = NbLanguageModelClassifier(n_features_log2=12, inner_folds=2)
    before = model.fit(texts[:150], labels[:150]).decision_function(probe)
    after = model.fit(texts[150:], labels[150:]).decision_function(probe)
    fresh = NbLanguageModelClassifier(n_features_log2=12, inner_folds=2)
    np.testing.assert_array_equal(
        after, fresh.fit(texts[150:], labels[150:]).decision_function(probe)
    )
    assert not np.allclose(before, after)
