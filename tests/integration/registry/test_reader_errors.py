"""The lean readers' error translation (`mlflow_reader`): what each failure becomes.

`RestModelReader` talks to a stub MLflow server (tests/support/mlflow_stub.py) answering canned
statuses and bodies and recording every request; `SqliteModelReader` reads a real MLflow store.
The errors are compared by exact type: a RegistryUnavailableError is retried by the API, a
ModelNotFoundError falls back to another version, a plain RegistryError is neither.
"""

from __future__ import annotations

import base64
import importlib.util
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path

import pytest

from sentiment.adapters.hashed_linear_classifier import HashedLinearClassifier
from sentiment.adapters.mlflow_rest_reader import RestModelReader
from sentiment.adapters.mlflow_sqlite_reader import SqliteModelReader
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
)
from tests.integration.registry.conftest import mlflow_registry, old_store
from tests.support.mlflow_stub import API, ARTIFACTS, Answer, answer, mlflow_error, serve_stub

CREDENTIALS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
VERSION_ONE = answer(200, {"model_version": {"name": "M", "version": "1"}})


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Answer(404, b"<html>Not Found</html>"), ModelNotFoundError),
        (
            mlflow_error(404, "RESOURCE_DOES_NOT_EXIST", "Model Version 1 not found"),
            ModelNotFoundError,
        ),
        (mlflow_error(404, "NOT_FOUND", "No such model"), ModelNotFoundError),
        (answer(404, ["no such model"]), ModelNotFoundError),
        (
            mlflow_error(400, "INVALID_PARAMETER_VALUE", "alias champion not found."),
            ModelNotFoundError,
        ),
        (mlflow_error(400, "INVALID_PARAMETER_VALUE", "Invalid alias name: '1x'."), RegistryError),
        (mlflow_error(500, "INTERNAL_ERROR", "database is gone"), RegistryUnavailableError),
        (Answer(503, b"upstream connect error"), RegistryUnavailableError),
        (Answer(408, b""), RegistryUnavailableError),
        (mlflow_error(429, "REQUEST_LIMIT_EXCEEDED", "slow down"), RegistryUnavailableError),
    ],
    ids=[
        "404",
        "404-does-not-exist",
        "404-not-found",
        "404-json-list",
        "alias-not-found",
        "bad-parameter",
        "500",
        "503",
        "408",
        "429",
    ],
)
def test_an_error_answer_becomes_its_domain_error(
    reply: Answer, expected: type[RegistryError]
) -> None:
    with serve_stub() as stub:
        stub.on("model-versions/get", reply)
        stub.on("registered-models/alias", reply)
        reader = RestModelReader(stub.url, "M", timeout_s=5)
        calls: list[Callable[[], object]] = [
            lambda: reader.get_version("1"),
            lambda: reader.get_by_alias("champion"),
        ]
        for call in calls:
            with pytest.raises(RegistryError) as raised:
                call()
            assert type(raised.value) is expected
    assert stub.paths() == [f"{API}model-versions/get", f"{API}registered-models/alias"]


def test_a_refusal_is_a_plain_registry_error_with_the_first_line_of_its_message() -> None:
    with serve_stub() as stub:
        stub.on("model-versions/get", mlflow_error(403, "PERMISSION_DENIED", "No READ on M\nat x"))
        with pytest.raises(RegistryError) as raised:
            RestModelReader(stub.url, "M", timeout_s=5).get_version("1")
    assert type(raised.value) is RegistryError
    assert str(raised.value) == "M version 1: No READ on M"


@pytest.mark.parametrize(
    "reply",
    [
        answer(403, {"error_code": "PERMISSION_DENIED"}),
        answer(403, ["denied"]),
        Answer(403, b""),
    ],
    ids=["no-message", "json-list", "empty"],
)
def test_a_refusal_without_a_message_is_named_by_its_status(reply: Answer) -> None:
    with serve_stub() as stub:
        stub.on("model-versions/get", reply)
        with pytest.raises(RegistryError) as raised:
            RestModelReader(stub.url, "M", timeout_s=5).get_version("1")
    assert type(raised.value) is RegistryError
    assert str(raised.value) == "M version 1: HTTP 403"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (Answer(200, b"<html>Please log in</html>"), "did not answer JSON"),
        (answer(200, [{"version": "1"}]), "unexpected answer"),
        (answer(200, {"model_version": {"name": "M"}}), "answered no model version"),
        (answer(200, {"model_version": ["1"]}), "answered no model version"),
    ],
    ids=["not-json", "json-list", "no-version", "version-a-list"],
)
def test_an_answer_that_is_no_model_version_is_a_registry_error(reply: Answer, why: str) -> None:
    with serve_stub() as stub:
        stub.on("model-versions/get", reply)
        with pytest.raises(RegistryError, match=why) as raised:
            RestModelReader(stub.url, "M", timeout_s=5).get_version("1")
    assert type(raised.value) is RegistryError


MALFORMED = {
    "timestamp-not-a-number": {
        "model-versions/get": {"model_version": {"version": "1", "creation_timestamp": "May"}}
    },
    "tags-not-objects": {"model-versions/get": {"model_version": {"version": "1", "tags": ["t"]}}},
    "metric-not-a-number": {
        "model-versions/get": {"model_version": {"version": "1", "run_id": "r"}},
        "runs/get": {"run": {"data": {"metrics": [{"key": "f1", "value": "high"}]}}},
    },
    "listing-not-a-list": {"model-versions/search": {"model_versions": 3}},
    "version-not-a-number": {
        "model-versions/search": {"model_versions": [{"version": "1"}, {"version": "two"}]},
        "registered-models/get": {"registered_model": {}},
    },
    "aliases-not-objects": {
        "model-versions/search": {"model_versions": [{"version": "1"}]},
        "registered-models/get": {"registered_model": {"aliases": ["champion"]}},
    },
}


@pytest.mark.parametrize("answers", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_field_of_an_unexpected_type_is_a_registry_error(answers: dict[str, object]) -> None:
    """Such answers used to escape as the AttributeError or ValueError of reading them."""
    with serve_stub() as stub:
        for endpoint, payload in answers.items():
            stub.on(endpoint, answer(200, payload))
        reader = RestModelReader(stub.url, "M", timeout_s=5)
        with pytest.raises(RegistryError, match="unexpected answer") as raised:
            reader.list_versions() if "model-versions/search" in answers else reader.get_version(
                "1"
            )
    assert type(raised.value) is RegistryError


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("env", "authorization"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "t0k"}, "Bearer t0k"),
        (
            {"MLFLOW_TRACKING_USERNAME": "al", "MLFLOW_TRACKING_PASSWORD": "p:w"},
            _basic("al", "p:w"),
        ),
        ({"MLFLOW_TRACKING_USERNAME": "al"}, _basic("al", "")),
        ({"MLFLOW_TRACKING_TOKEN": "t0k", "MLFLOW_TRACKING_USERNAME": "al"}, "Bearer t0k"),
        ({}, None),
    ],
    ids=["token", "basic", "user-only", "token-first", "none"],
)
def test_every_request_carries_the_credentials_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], authorization: str | None
) -> None:
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with serve_stub() as stub:
        stub.on(
            "model-versions/get", answer(200, {"model_version": {"version": "1", "run_id": "r"}})
        )
        stub.on("runs/get", answer(200, {"run": {"info": {"status": "FINISHED"}}}))
        stub.on(
            "model-versions/get-download-uri", answer(200, {"artifact_uri": "mlflow-artifacts:/m1"})
        )
        with pytest.raises(ModelLoadError, match="artifacts are missing"):  # both files: 404
            RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert stub.paths() == [
        f"{API}model-versions/get",
        f"{API}runs/get",
        f"{API}model-versions/get-download-uri",
        f"{ARTIFACTS}m1/serving.npz",
        f"{ARTIFACTS}m1/model.skops",
    ]
    assert [seen.headers.get("Authorization") for seen in stub.requests] == [authorization] * 5


def test_listing_versions_follows_the_page_token() -> None:
    # MLflow's SearchModelVersions: `page_token` in, `next_page_token` out.
    with serve_stub() as stub:
        stub.on(
            "model-versions/search",
            answer(
                200,
                {"model_versions": [{"version": "2"}, {"version": "1"}], "next_page_token": "p2"},
            ),
            answer(200, {"model_versions": [{"version": "3"}]}),
        )
        aliases = {"aliases": [{"alias": "champion", "version": "3"}]}
        stub.on("registered-models/get", answer(200, {"registered_model": aliases}))
        versions = RestModelReader(stub.url, "M", timeout_s=5).list_versions()
    assert [(v.version, v.aliases) for v in versions] == [
        ("1", ()),
        ("2", ()),
        ("3", ("champion",)),
    ]
    searches = [seen.query for seen in stub.requests if seen.path.endswith("/search")]
    assert searches == [
        {"filter": "name = 'M'", "max_results": "1000"},
        {"filter": "name = 'M'", "max_results": "1000", "page_token": "p2"},
    ]


def test_an_answer_cut_short_is_unavailable() -> None:
    """The server (or a proxy) closes before the Content-Length it announced. A JSON answer
    cut short used to escape as http.client's IncompleteRead (no OSError); a download cut
    short was kept as a short file, then reported as a broken model (ModelLoadError); a chunk
    cut short escaped as IncompleteRead."""
    with serve_stub() as stub:
        cut = Answer(200, b'{"model_version": {"vers', declared_length=1000)
        stub.on("model-versions/get", cut, VERSION_ONE)
        stub.on(
            "registered-models/alias", Answer(503, b'{"error_code": "TEMP', declared_length=500)
        )
        stub.on(
            "model-versions/get-download-uri", answer(200, {"artifact_uri": "mlflow-artifacts:/m1"})
        )
        stub.on(
            f"{ARTIFACTS}m1/serving.npz",
            Answer(200, b"PK\x03\x04", declared_length=100_000),
            Answer(200, b"PK\x03\x04", declared_length=100_000, chunked=True),
        )
        reader = RestModelReader(stub.url, "M", timeout_s=5)
        calls: list[Callable[[], object]] = [
            lambda: reader.get_version("1"),
            lambda: reader.get_by_alias("champion"),
            lambda: reader.load("1"),
            lambda: reader.load("1"),
        ]
        for call in calls:
            with pytest.raises(RegistryUnavailableError):
                call()
    assert stub.paths().count(f"{ARTIFACTS}m1/serving.npz") == 2
    assert f"{ARTIFACTS}m1/model.skops" not in stub.paths()


# -- SQLite ------------------------------------------------------------------------------------


def test_a_store_locked_by_a_writer_is_unavailable_once_the_timeout_is_over(
    sqlite_store: Path, tiny_classifier: SklearnClassifier
) -> None:
    """sqlite3 waits `timeout_s` (10 s by default) for a writer's lock, then says "database is
    locked"; the reader's schema read (fresh) and its queries (warm) both give up then."""
    writer = mlflow_registry(sqlite_store, "Locked")
    with writer.start_run() as run:
        run.register(tiny_classifier)
    warm = SqliteModelReader(writer.tracking_uri, "Locked", timeout_s=0.3)
    assert warm.get_version("1").version == "1"
    fresh = SqliteModelReader(writer.tracking_uri, "Locked", timeout_s=0.3)
    with closing(sqlite3.connect(sqlite_store / "mlflow.db", isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        try:
            for reader in (fresh, warm):
                calls: list[Callable[[], object]] = [
                    reader.list_versions,
                    partial(reader.get_version, "1"),
                    partial(reader.get_by_alias, "champion"),
                    partial(reader.load, "1"),
                ]
                for call in calls:
                    started = time.monotonic()
                    with pytest.raises(RegistryUnavailableError, match="database is locked"):
                        call()
                    assert 0.25 <= time.monotonic() - started < 5
        finally:
            holder.execute("ROLLBACK")
    assert isinstance(fresh.load("1"), HashedLinearClassifier)  # the writer is done: it reads


def test_a_store_migrated_under_a_running_reader_is_a_registry_error(tmp_path: Path) -> None:
    """A reader checks the schema once; when MLflow's migration then renames a column it reads,
    its queries fail: a RegistryError that names the way out, not an unavailable store to retry."""
    store = old_store(tmp_path / "old.db", tmp_path)
    warm = SqliteModelReader(f"sqlite:///{store}", "Old")
    assert warm.get_version("1").run_status == "FINISHED"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("ALTER TABLE latest_metrics RENAME COLUMN is_nan TO nan")
    with pytest.raises(RegistryError, match="SENTIMENT_SERVING_READER=mlflow") as raised:
        warm.get_version("1")
    assert type(raised.value) is RegistryError
    assert "no such column: is_nan" in str(raised.value)
    fresh = SqliteModelReader(f"sqlite:///{store}", "Old")
    with pytest.raises(RegistryError, match="latest_metrics lacks is_nan") as raised:
        fresh.list_versions()
    assert type(raised.value) is RegistryError


def test_a_version_whose_files_are_not_in_a_local_folder_loads_through_mlflow(
    sqlite_store: Path, tiny_classifier: SklearnClassifier
) -> None:
    writer = mlflow_registry(sqlite_store, "Elsewhere")
    with writer.start_run() as run:
        run.register(tiny_classifier)
    reader = SqliteModelReader(writer.tracking_uri, "Elsewhere")
    assert isinstance(reader.load("1"), HashedLinearClassifier)  # serving.npz, read in place
    with closing(sqlite3.connect(sqlite_store / "mlflow.db")) as db, db:
        db.execute("UPDATE model_versions SET storage_location = NULL WHERE name = 'Elsewhere'")
    # Its files are now where its source says: a `models:/m-...` URI that only MLflow resolves.
    loaded = reader.load("1")
    assert isinstance(loaded, SklearnClassifier)
    texts = ["a wonderful film", "a dreadful film", "it was fine"]
    assert loaded.predict(texts) == tiny_classifier.predict(texts)


@pytest.mark.skipif(
    importlib.util.find_spec("botocore") is not None, reason="reads s3:// with botocore installed"
)
def test_a_version_in_a_store_whose_client_library_is_absent_is_a_load_error(
    sqlite_store: Path, tiny_classifier: SklearnClassifier
) -> None:
    """MLflow reads s3:// with boto3, which this project does not install: its ImportError
    used to escape both readers untranslated."""
    writer = mlflow_registry(sqlite_store, "InS3")
    with writer.start_run() as run:
        run.register(tiny_classifier)
    with closing(sqlite3.connect(sqlite_store / "mlflow.db")) as db, db:
        db.execute(
            "UPDATE model_versions SET storage_location = 's3://sentiment-none/m' "
            "WHERE name = 'InS3'"
        )
    for registry in (SqliteModelReader(writer.tracking_uri, "InS3"), writer):
        with pytest.raises(
            ModelLoadError, match=r"store needs the package botocore, not installed$"
        ):
            registry.load("1")
