"""Fixtures for the registry integration tests: a tiny fitted model, one SQLite MLflow store.

Registries come in four kinds: the in-memory one, MLflow's client on a SQLite store, and the
API's lean readers (`mlflow_reader`) reading what MLflow's client wrote: `lean-sqlite` on the
same SQLite store, `lean-rest` through a real `mlflow server` (SQLite backend, proxied
artifacts). The lean kinds write with MLflow's client and read every version, alias and model
with the lean reader (`ReadThrough`), so the contract tests check what the API reads.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.adapters.mlflow_rest_reader import RestModelReader
from sentiment.adapters.mlflow_sqlite_reader import SqliteModelReader
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.model import ModelVersion
from sentiment.domain.ports import Classifier, ModelReader, ModelRegistry, TrainingRun
from tests.support.data import sample_rows
from tests.support.local_http import free_port
from tests.support.processes import mlflow_server_command, running_server, venv_env

KINDS = (
    "memory",
    "mlflow",
    "lean-sqlite",
    pytest.param("lean-rest", marks=pytest.mark.mlflow_server),
)
MakeRegistry = Callable[[str], ModelRegistry]
_names = itertools.count(1)


class ReadThrough(ModelRegistry):
    """Writes with MLflow's client, reads with a lean reader: what the API sees."""

    def __init__(self, writer: MlflowModelRegistry, reader: ModelReader) -> None:
        self.writer = writer
        self.reader = reader

    @property
    def model_name(self) -> str:
        return self.reader.model_name

    def start_run(self, run_name: str | None = None) -> AbstractContextManager[TrainingRun]:
        return self.writer.start_run(run_name)

    def get_version(self, version: str) -> ModelVersion:
        return self.reader.get_version(version)

    def get_by_alias(self, alias: str) -> ModelVersion:
        return self.reader.get_by_alias(alias)

    def list_versions(self) -> list[ModelVersion]:
        return self.reader.list_versions()

    def latest_version(self) -> ModelVersion:
        return self.writer.latest_version()

    def set_alias(self, alias: str, version: str) -> None:
        self.writer.set_alias(alias, version)

    def alias_lock(self) -> AbstractContextManager[object]:
        return self.writer.alias_lock()

    def delete_alias(self, alias: str) -> None:
        self.writer.delete_alias(alias)

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        self.writer.set_tags(version, tags)

    def load(self, version: str) -> Classifier:
        return self.reader.load(version)


@dataclass(frozen=True)
class RestServer:
    uri: str
    artifacts: Path
    """--artifacts-destination: where the server keeps the proxied artifacts."""


@pytest.fixture(scope="session")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestServer]:
    """`mlflow server` on a free loopback port: SQLite backend, proxied artifacts."""
    root = tmp_path_factory.mktemp("lean-rest-server")
    port = free_port()
    command = mlflow_server_command(
        f"sqlite:///{root / 'server.db'}", root / "served-artifacts", port
    )
    uri = f"http://127.0.0.1:{port}"
    env = venv_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    with running_server(command, f"{uri}/health", root / "server.log", env=env, cwd=root):
        yield RestServer(uri, root / "served-artifacts")


def _registry(request: pytest.FixtureRequest, kind: str, store: Path, name: str) -> ModelRegistry:
    if kind == "memory":
        return InMemoryModelRegistry(model_name=name)
    if kind == "mlflow":
        return mlflow_registry(store, name)
    if kind == "lean-sqlite":
        writer = mlflow_registry(store, name)
        return ReadThrough(writer, SqliteModelReader(writer.tracking_uri, name))
    uri = request.getfixturevalue("rest_server").uri
    writer = MlflowModelRegistry(tracking_uri=uri, experiment_name=f"exp-{name}", model_name=name)
    return ReadThrough(writer, RestModelReader(uri, name))


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
        return _registry(request, kind, sqlite_store, unique)

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
    registry = _registry(request, kind, sqlite_store, name)
    for _ in range(2):
        with registry.start_run() as run:
            run.register(tiny_classifier)
    yield registry
    mlflow.end_run()


# An MLflow 2.x store, made by hand: only the columns the reader needs (no `workspace`, no
# `storage_location`), and values MLflow leaves NULL at times.
OLD_SCHEMA = """
CREATE TABLE model_versions (name VARCHAR(256), version INTEGER, creation_time BIGINT,
    current_stage VARCHAR(20), source VARCHAR(500), run_id VARCHAR(32), status VARCHAR(20));
CREATE TABLE model_version_tags (key VARCHAR(250), value TEXT, name VARCHAR(256), version INTEGER);
CREATE TABLE registered_model_aliases (alias VARCHAR(256), version INTEGER, name VARCHAR(256));
CREATE TABLE runs (run_uuid VARCHAR(32), status VARCHAR(9));
CREATE TABLE latest_metrics (key VARCHAR(250), value FLOAT, is_nan BOOLEAN, run_uuid VARCHAR(32));
"""


def old_store(path: Path, source: Path) -> Path:
    """Versions 1 to 3 of model "Old" (and a deleted version 4), version 1's files in `source`."""
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(OLD_SCHEMA)
        db.executemany(
            "INSERT INTO model_versions VALUES ('Old', ?, ?, ?, ?, ?, ?)",
            [
                (1, 1_700_000_000_000, "None", str(source), "run1", None),
                (2, None, "Production", str(source), "collected", "READY"),
                (3, 1_700_000_002_000, None, None, None, "FAILED_REGISTRATION"),
                (4, 1_700_000_003_000, "Deleted_Internal", str(source), "run1", "READY"),
            ],
        )
        db.executemany(
            "INSERT INTO model_version_tags VALUES (?, ?, 'Old', ?)",
            [("dataset_digest", "abc123", 1), ("note", None, 1), ("note", "second", 2)],
        )
        db.executemany(
            "INSERT INTO registered_model_aliases VALUES (?, ?, 'Old')",
            [("champion", 1), ("previous", 2), ("candidate", 2)],
        )
        db.execute("INSERT INTO runs VALUES ('run1', 'FINISHED')")  # run `collected`: gone
        db.executemany(
            "INSERT INTO latest_metrics VALUES (?, ?, ?, 'run1')",
            [("f1_macro", 0.8, False), ("loss", 0.0, True)],
        )
    return path
