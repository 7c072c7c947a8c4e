"""Shared fixtures: the shared IMDB sample, small datasets, a small fitted model, free ports.

The shared data is read from `SENTIMENT_TEST_DATA`, by default
`<repository root>/../shared/data/imdb/train.csv`. Tests sample a few hundred rows of it at run
time; nothing of it is ever written inside the repository.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.model import LabelledDataset, ParamValue
from tests.support.data import shared_data_path
from tests.support.local_http import free_port

# The machine is shared and CI runs on 2 cores: time limits per example would only add flakes.
settings.register_profile("sentiment", deadline=None, print_blob=True)
settings.load_profile("sentiment")

# Small models for tests: 2**16 hashed features keep artifacts small and fitting fast.
TINY_HYPERPARAMETERS: dict[str, ParamValue] = {"n_features_log2": 16}


def sample_frame(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows of `frame`, the same number from each label (within one), in random order."""
    labels = sorted(frame["label"].unique())
    per_label, extra = divmod(rows, len(labels))
    parts = [
        frame[frame["label"] == label].sample(
            n=per_label + (1 if i < extra else 0), random_state=seed
        )
        for i, label in enumerate(labels)
    ]
    sampled: pd.DataFrame = pd.concat(parts).sample(frac=1.0, random_state=seed)
    return sampled.reset_index(drop=True)


def to_dataset(frame: pd.DataFrame, name: str = "sample") -> LabelledDataset:
    return LabelledDataset(
        texts=tuple(str(t) for t in frame["text"].tolist()),
        labels=tuple(str(label) for label in frame["label"].tolist()),
        name=name,
        source="tests",
        digest=f"{name}-{len(frame)}",
    )


@pytest.fixture(scope="session")
def shared_frame() -> pd.DataFrame:
    """The whole shared train.csv, read once per session."""
    path = shared_data_path()
    if not path.is_file():
        pytest.fail(
            f"shared test data not found at {path}: set SENTIMENT_TEST_DATA to the IMDB train.csv"
        )
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def small_frame(shared_frame: pd.DataFrame) -> pd.DataFrame:
    """300 balanced rows of the shared data."""
    return sample_frame(shared_frame, 300, seed=1)


@pytest.fixture(scope="session")
def small_dataset(small_frame: pd.DataFrame) -> LabelledDataset:
    return to_dataset(small_frame, "imdb-300")


@pytest.fixture(scope="session")
def holdout_dataset(shared_frame: pd.DataFrame, small_frame: pd.DataFrame) -> LabelledDataset:
    """100 balanced rows of the shared data that are not in `small_frame`."""
    rest = shared_frame[~shared_frame["text"].isin(set(small_frame["text"]))]
    return to_dataset(sample_frame(rest, 100, seed=2), "imdb-holdout-100")


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory: pytest.TempPathFactory, small_frame: pd.DataFrame) -> Path:
    """`small_frame` written as a CSV file (text,label,rating) in a temporary folder."""
    path = tmp_path_factory.mktemp("data") / "small.csv"
    small_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def fitted_classifier(small_dataset: LabelledDataset) -> SklearnClassifier:
    """A tiny `tfidf-lr` classifier fitted once on `small_dataset`. Do not refit it."""
    classifier = SklearnClassifier("tfidf-lr", TINY_HYPERPARAMETERS)
    classifier.fit(small_dataset.texts, small_dataset.labels)
    return classifier


@pytest.fixture(scope="session")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite MLflow store for the session (creating one takes seconds). Tests that share it
    use experiments and registered model names of their own."""
    return tmp_path_factory.mktemp("mlflow-db") / "mlflow.db"


@pytest.fixture
def port() -> int:
    return free_port()
