"""The models the behavioural tests examine: the default model type (`nblr-lm`), `nblr` and
`nblr-ctx`, each trained once per session."""

from __future__ import annotations

import pandas as pd
import pytest

from sentiment.adapters.hyperparameters import DEFAULT_MODEL_TYPE
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.model import LabelledDataset
from tests.conftest import sample_frame, to_dataset

TRAINING_ROWS = 5000


@pytest.fixture(scope="session")
def behaviour_training(shared_frame: pd.DataFrame) -> LabelledDataset:
    """5,000 balanced reviews: enough for the behaviour to show, fitted in a few seconds."""
    return to_dataset(sample_frame(shared_frame, TRAINING_ROWS, seed=7), "imdb-5000")


@pytest.fixture(scope="session")
def behaviour_held_out(
    shared_frame: pd.DataFrame, behaviour_training: LabelledDataset
) -> LabelledDataset:
    """1,000 balanced reviews that are not in `behaviour_training`."""
    rest = shared_frame[~shared_frame["text"].isin(set(behaviour_training.texts))]
    return to_dataset(sample_frame(rest, 1000, seed=8), "imdb-held-out-1000")


# The default first, then every other accurate type once.
MODEL_TYPES = list(dict.fromkeys([DEFAULT_MODEL_TYPE, "nblr-lm", "nblr", "nblr-ctx"]))


@pytest.fixture(scope="session", params=MODEL_TYPES)
def trained_model(
    request: pytest.FixtureRequest, behaviour_training: LabelledDataset
) -> SklearnClassifier:
    """The default model type, then the others, with default hyperparameters. Do not refit."""
    classifier = SklearnClassifier(str(request.param))
    classifier.fit(behaviour_training.texts, behaviour_training.labels)
    return classifier
