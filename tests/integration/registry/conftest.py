"""Fixtures for the registry integration tests: a tiny fitted model, one SQLite MLflow store."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.ports import ModelRegistry
from tests.support.data import sample_rows

KINDS = ("memory", "mlflow")
MakeRegistry = Callable[[str], ModelRegistry]
_names = itertools.count(1)


@pytest.fixture(scope="session")
def tiny_classifier() -> SklearnClassifier:
    """A tfidf-lr classifier with 2**12 hashed features, fitted once on 200 rows."""
    rows = sample_rows(200, seed=11)
    classifier = SklearnClassifier("tfidf-lr", {"n_features_log2": 12, "ngram_max": 1})
    classifier.fit([t for t, _ in rows], [y for _, y in rows])
    return classifier


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for one SQLite MLflow store shared by the session (creating one takes
    seconds); each test uses a registered model and an experiment of its own."""
    return tmp_path_factory.mktemp("registry-sqlite")


def mlflow_registry(store: Path, name: str) -> MlflowModelRegistry:
    return MlflowModelRegistry(
        tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
        experiment_name=f"exp-{name}",
        model_name=name,
        artifact_root=str(store / "artifacts"),
        cache_dir=store / "downloads",
    )


@pytest.fixture(params=KINDS)
def make_registry(request: pytest.FixtureRequest, sqlite_store: Path) -> Iterator[MakeRegistry]:
    """Makes registries of one adapter kind, each for a model name never used before."""
    kind = str(request.param)

    def make(name: str = "") -> ModelRegistry:
        unique = f"{name or 'Model'}-{kind}-{next(_names)}"
        if kind == "memory":
            return InMemoryModelRegistry(model_name=unique)
        return mlflow_registry(sqlite_store, unique)

    yield make
    mlflow.end_run()  # a test that failed inside a run leaves none active for the next


@pytest.fixture(scope="module", params=KINDS)
def shared_registry(
    request: pytest.FixtureRequest, sqlite_store: Path, tiny_classifier: SklearnClassifier
) -> Iterator[ModelRegistry]:
    """A registry (of each kind) holding versions 1 and 2, shared by a module's tests that
    leave it as they found it or use aliases and tags of their own."""
    kind = str(request.param)
    name = f"Shared-{kind}-{next(_names)}"
    registry: ModelRegistry = (
        InMemoryModelRegistry(model_name=name)
        if kind == "memory"
        else mlflow_registry(sqlite_store, name)
    )
    for _ in range(2):
        with registry.start_run() as run:
            run.register(tiny_classifier)
    yield registry
    mlflow.end_run()
