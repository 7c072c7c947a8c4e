"""The API's lean registry readers (sqlite3, REST) beyond the shared contract: what they load,
the fallback to skops, errors, and the MLflow schema they were tested on.

The contract tests (`test_contract.py`) run every read through them too (kinds `lean-sqlite`
and `lean-rest` in conftest.py).
"""

from __future__ import annotations

import math
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from sentiment.adapters.hashed_linear import FILE_NAME
from sentiment.adapters.hashed_linear_classifier import HashedLinearClassifier
from sentiment.adapters.mlflow_reader import LeanReader, lean_reader
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.adapters.mlflow_rest_reader import RestModelReader
from sentiment.adapters.mlflow_sqlite_reader import TESTED_SCHEMAS, SqliteModelReader
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
)
from sentiment.domain.model import LabelledDataset
from sentiment.domain.ports import ModelReader
from tests.conftest import TINY_HYPERPARAMETERS, sample_frame
from tests.integration.registry.conftest import mlflow_registry, old_store
from tests.support.local_http import free_port

READERS = ("sqlite", pytest.param("rest", marks=pytest.mark.mlflow_server))


@pytest.fixture(scope="module")
def nblr(small_dataset: LabelledDataset) -> SklearnClassifier:
    classifier = SklearnClassifier("nblr", TINY_HYPERPARAMETERS)
    classifier.fit(small_dataset.texts, small_dataset.labels)
    return classifier


@pytest.fixture(scope="module")
def reviews(shared_frame: pd.DataFrame) -> list[str]:
    return [str(t) for t in sample_frame(shared_frame, 300, seed=31)["text"].tolist()]


def writer_and_reader(
    request: pytest.FixtureRequest, kind: str, store: Path, name: str
) -> tuple[MlflowModelRegistry, ModelReader]:
    if kind == "sqlite":
        writer = mlflow_registry(store, name)
        return writer, SqliteModelReader(writer.tracking_uri, name)
    uri = request.getfixturevalue("rest_server").uri
    writer = MlflowModelRegistry(tracking_uri=uri, experiment_name=f"exp-{name}", model_name=name)
    return writer, RestModelReader(uri, name)


def model_folder(writer: MlflowModelRegistry, version: str, request: pytest.FixtureRequest) -> Path:
    """Where the store keeps a version's MLflow model (for the REST server: its proxy folder)."""
    uri = writer.client.get_model_version_download_uri(writer.model_name, version)
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    assert uri.startswith("mlflow-artifacts:/"), uri
    served: Path = request.getfixturevalue("rest_server").artifacts
    return served / uri.removeprefix("mlflow-artifacts:/").lstrip("/")


@pytest.mark.parametrize("kind", READERS)
def test_an_nblr_version_loads_as_numpy_and_predicts_like_the_pipeline(
    request: pytest.FixtureRequest,
    sqlite_store: Path,
    nblr: SklearnClassifier,
    reviews: list[str],
    kind: str,
) -> None:
    writer, reader = writer_and_reader(request, kind, sqlite_store, f"Numpy-{kind}")
    with writer.start_run() as run:
        version = run.register(nblr)
    loaded = reader.load(version.version)
    assert isinstance(loaded, HashedLinearClassifier)
    assert (loaded.model_type, loaded.classes) == ("nblr", nblr.classes)
    expected = nblr.pipeline.predict_proba(reviews)
    got = np.vstack([loaded.predict_proba(reviews[:100]), loaded.predict_proba(reviews[100:])])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    # MLflow's own client still loads the skops model of the same version.
    assert isinstance(writer.load(version.version), SklearnClassifier)


@pytest.mark.parametrize("kind", READERS)
def test_a_version_without_serving_file_loads_from_skops(
    request: pytest.FixtureRequest,
    sqlite_store: Path,
    nblr: SklearnClassifier,
    reviews: list[str],
    kind: str,
) -> None:
    writer, reader = writer_and_reader(request, kind, sqlite_store, f"Skops-{kind}")
    with writer.start_run() as run:
        version = run.register(nblr).version
    folder = model_folder(writer, version, request)
    (folder / FILE_NAME).unlink()  # as a version registered before serving files existed
    loaded = reader.load(version)
    assert isinstance(loaded, SklearnClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(reviews), nblr.predict_proba(reviews))

    (folder / "model.skops").unlink()
    with pytest.raises(ModelLoadError, match="artifacts are missing"):
        reader.load(version)


@pytest.mark.parametrize("kind", READERS)
def test_a_corrupt_serving_file_is_a_load_error(
    request: pytest.FixtureRequest, sqlite_store: Path, nblr: SklearnClassifier, kind: str
) -> None:
    writer, reader = writer_and_reader(request, kind, sqlite_store, f"Corrupt-{kind}")
    with writer.start_run() as run:
        version = run.register(nblr).version
    (model_folder(writer, version, request) / FILE_NAME).write_bytes(b"not a model")
    with pytest.raises(ModelLoadError):
        reader.load(version)


@pytest.mark.parametrize("kind", READERS)
def test_a_deleted_version_is_gone(
    request: pytest.FixtureRequest, sqlite_store: Path, nblr: SklearnClassifier, kind: str
) -> None:
    writer, reader = writer_and_reader(request, kind, sqlite_store, f"Deleted-{kind}")
    for _ in range(2):
        with writer.start_run() as run:
            run.register(nblr)
    writer.set_alias("champion", "2")
    MlflowClient(writer.tracking_uri, writer.tracking_uri).delete_model_version(
        writer.model_name, "2"
    )
    assert [v.version for v in reader.list_versions()] == ["1"]
    with pytest.raises(ModelNotFoundError):
        reader.get_version("2")
    with pytest.raises(ModelNotFoundError):
        reader.get_by_alias("champion")
    assert reader.list_versions() == writer.list_versions()


@pytest.mark.parametrize("kind", READERS)
def test_a_version_s_registry_status_is_read_as_mlflow_reads_it(
    request: pytest.FixtureRequest, sqlite_store: Path, nblr: SklearnClassifier, kind: str
) -> None:
    writer, reader = writer_and_reader(request, kind, sqlite_store, f"Status-{kind}")
    for _ in range(2):
        with writer.start_run() as run:
            run.register(nblr)
    writer.set_alias("champion", "2")
    # A registration that failed (MLflow's clients never write this status on a local store).
    database = (
        sqlite_store / "mlflow.db"
        if kind == "sqlite"
        else request.getfixturevalue("rest_server").artifacts.parent / "server.db"
    )
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE model_versions SET status = 'FAILED_REGISTRATION' WHERE name = ? AND "
            "version = 2",
            (writer.model_name,),
        )
    assert reader.get_version("1").status == "READY"
    assert reader.get_version("2").status == "FAILED_REGISTRATION"
    assert reader.get_by_alias("champion").status == "FAILED_REGISTRATION"
    assert reader.list_versions() == writer.list_versions()
    assert [v.status for v in writer.list_versions()] == ["READY", "FAILED_REGISTRATION"]


def test_the_sqlite_store_has_a_schema_this_reader_was_tested_on(sqlite_store: Path) -> None:
    # Pinned: a new MLflow that migrates its tables must be checked again (then add its
    # revision to TESTED_SCHEMAS).
    writer = mlflow_registry(sqlite_store, "Schema")
    writer.list_versions()  # creates the tables
    with sqlite3.connect(sqlite_store / "mlflow.db") as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision in TESTED_SCHEMAS


def test_a_missing_sqlite_store_holds_nothing(tmp_path: Path) -> None:
    reader = SqliteModelReader(f"sqlite:///{tmp_path / 'none.db'}", "Nothing")
    assert reader.list_versions() == []
    with pytest.raises(ModelNotFoundError):
        reader.get_by_alias("champion")
    with pytest.raises(ModelNotFoundError):
        reader.load("1")
    assert not (tmp_path / "none.db").exists()  # read-only: never creates a store


def test_a_file_that_is_not_a_store_is_a_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(RegistryError):
        SqliteModelReader(f"sqlite:///{path}", "M").list_versions()


def test_a_store_of_another_schema_is_a_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE model_versions (name TEXT, version INTEGER)")
    with pytest.raises(RegistryError, match="SENTIMENT_SERVING_READER=mlflow"):
        SqliteModelReader(f"sqlite:///{path}", "M").get_version("1")


def test_a_server_that_is_away_is_unavailable() -> None:
    reader = RestModelReader(f"http://127.0.0.1:{free_port()}", "M", timeout_s=2)
    for call in (
        lambda: reader.get_by_alias("champion"),
        lambda: reader.get_version("1"),
        reader.list_versions,
        lambda: reader.load("1"),
    ):
        with pytest.raises(RegistryUnavailableError):
            call()


def test_a_reader_refuses_a_tracking_uri_of_another_kind(tmp_path: Path) -> None:
    # `sqlite://` is an in-memory store: nothing to read from another process.
    for uri in ("sqlite://", "sqlite:relative.db", "postgresql://u@127.0.0.1/db", str(tmp_path)):
        with pytest.raises(RegistryError, match="not a SQLite store URI"):
            SqliteModelReader(uri, "M")
    for uri in ("sqlite:///mlflow.db", "http://", "file:///tmp/mlruns", "127.0.0.1:5000"):
        with pytest.raises(RegistryError, match=r"not an http\(s\) tracking URI"):
            RestModelReader(uri, "M")


def test_each_tracking_uri_gets_its_reader(tmp_path: Path) -> None:
    assert isinstance(lean_reader(f"sqlite:///{tmp_path / 'a.db'}", "M"), SqliteModelReader)
    assert isinstance(lean_reader("http://127.0.0.1:5000", "M"), RestModelReader)
    assert isinstance(lean_reader("https://mlflow.example/prefix/", "M"), RestModelReader)
    for uri in (f"sqlite:///{tmp_path / 'a.db'}", "https://mlflow.example/prefix/"):
        reader = lean_reader(uri, "M")
        assert isinstance(reader, LeanReader)
        assert (reader.tracking_uri, reader.model_name) == (uri, "M")
    # A store only MLflow's client reads (PostgreSQL...): MLflow's client.
    other = lean_reader("postgresql+psycopg2://u@127.0.0.1:5432/db", "M")
    assert isinstance(other, MlflowModelRegistry)


def test_a_store_of_an_older_mlflow_schema_is_read_as_mlflow_read_it(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_store: Path,
    tiny_classifier: SklearnClassifier,
) -> None:
    writer = mlflow_registry(sqlite_store, "Donor")
    with writer.start_run() as run:
        run.register(tiny_classifier)
    files = model_folder(writer, "1", request)
    reader = SqliteModelReader(f"sqlite:///{old_store(tmp_path / 'old.db', files)}", "Old")

    versions = reader.list_versions()
    assert [v.version for v in versions] == ["1", "2", "3"]  # version 4 was deleted
    first, second, third = versions
    assert first == reader.get_version("1") == reader.get_by_alias("champion")
    assert (first.run_id, first.aliases, first.run_status, first.status) == (
        "run1",
        ("champion",),
        "FINISHED",
        "READY",  # no status: READY, as MLflow reads it
    )
    assert first.tags == {"dataset_digest": "abc123", "note": ""}
    assert first.dataset_digest == "abc123"
    assert first.created_at == 1_700_000_000.0
    assert first.metrics["f1_macro"] == 0.8
    assert math.isnan(first.metrics["loss"])
    # Its run garbage-collected, its creation time unknown: still a version.
    assert second == reader.get_by_alias("previous")
    assert (second.run_id, second.aliases, second.run_status, second.metrics) == (
        "collected",
        ("candidate", "previous"),
        "",
        {},
    )
    assert (second.tags, second.created_at) == ({"note": "second"}, 0.0)
    assert (third.run_id, third.run_status, third.status) == ("", "", "FAILED_REGISTRATION")
    # Without a storage location, a version's files are where its source says.
    assert isinstance(reader.load("1"), HashedLinearClassifier)
    with pytest.raises(ModelNotFoundError):
        reader.get_version("4")


def test_a_version_without_a_recorded_location_never_loads_from_the_working_directory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_store: Path,
    tiny_classifier: SklearnClassifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Version 3 of the old store has neither a storage location nor a source: an empty
    location was read as the relative path "", i.e. the server's working directory."""
    writer = mlflow_registry(sqlite_store, "NoLocation")
    with writer.start_run() as run:
        run.register(tiny_classifier)
    files = model_folder(writer, "1", request)
    store = old_store(tmp_path / "old.db", files)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    for name in (FILE_NAME, "model.skops"):
        (workdir / name).write_bytes((files / name).read_bytes())
    monkeypatch.chdir(workdir)
    reader = SqliteModelReader(f"sqlite:///{store}", "Old")
    with pytest.raises(ModelLoadError, match="no location"):
        reader.load("3")
    assert isinstance(reader.load("1"), HashedLinearClassifier)


def test_a_store_uri_s_query_string_is_no_part_of_its_path(tmp_path: Path) -> None:
    store = old_store(tmp_path / "old.db", tmp_path)
    for uri in (f"sqlite:///{store}?timeout=20", f"sqlite:///{store}?mode=ro&cache=shared"):
        reader = lean_reader(uri, "Old")
        assert isinstance(reader, SqliteModelReader)
        assert reader.get_by_alias("champion").version == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["old.db"]  # nothing created beside it


def test_versions_of_another_workspace_are_not_read(
    sqlite_store: Path, tiny_classifier: SklearnClassifier
) -> None:
    """MLflow 3 keeps the registries of several workspaces in one store; the reader reads the
    default one, as MLflow's client does when no workspace is set."""
    writer = mlflow_registry(sqlite_store, "Workspaces")
    with writer.start_run() as run:
        run.register(tiny_classifier)
    writer.set_alias("champion", "1")
    writer.set_tags("1", {"team": "default"})
    # The same model name in workspace `team-b`: versions 1 and 2, aliases and tags of its own.
    with closing(sqlite3.connect(sqlite_store / "mlflow.db")) as db, db:
        db.execute(
            "INSERT INTO registered_models (name, workspace) VALUES ('Workspaces', 'team-b')"
        )
        for number in (1, 2):
            db.execute(
                "INSERT INTO model_versions (name, version, creation_time, current_stage, source, "
                "run_id, status, storage_location, workspace) SELECT name, ?, creation_time, "
                "current_stage, 'elsewhere', '', 'PENDING_REGISTRATION', 'elsewhere', 'team-b' "
                "FROM model_versions WHERE name = 'Workspaces' AND workspace = 'default'",
                (number,),
            )
        db.execute(
            "INSERT INTO model_version_tags (key, value, name, version, workspace) "
            "VALUES ('team', 'b', 'Workspaces', 1, 'team-b')"
        )
        db.execute(
            "INSERT INTO registered_model_aliases (alias, version, name, workspace) "
            "VALUES ('champion', 2, 'Workspaces', 'team-b'), ('other', 1, 'Workspaces', 'team-b')"
        )
    reader = SqliteModelReader(writer.tracking_uri, "Workspaces")
    (version,) = reader.list_versions()
    assert [version] == writer.list_versions()
    assert version == reader.get_version("1") == reader.get_by_alias("champion")
    assert (version.aliases, version.tags["team"], version.status) == (
        ("champion",),
        "default",
        "READY",
    )
    with pytest.raises(ModelNotFoundError):
        reader.get_version("2")
    with pytest.raises(ModelNotFoundError):
        reader.get_by_alias("other")
    assert isinstance(reader.load("1"), HashedLinearClassifier)
