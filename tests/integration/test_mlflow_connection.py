"""mlflow_connection: MLflow's exceptions as domain errors (exact types: the API retries an
unavailable registry, falls back on a missing version, and does neither for a plain error), the
process-wide URIs of one fluent run, the alias lock file, which URIs are local stores, and the
fail-fast defaults of MLflow's HTTP client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from sentiment.adapters.mlflow_connection import (
    file_lock,
    is_local_store,
    open_client,
    process_uris,
    translate,
)
from sentiment.domain.errors import (
    ModelNotFoundError,
    RegistryError,
    RegistryInputError,
    RegistryUnavailableError,
)
from tests.support.processes import clean_env

SECRET = "s3cret-pw"


def raising(error: BaseException) -> object:
    raise error


def test_translate_returns_what_the_call_returns() -> None:
    assert translate("read", lambda: {"version": "3"}) == {"version": "3"}


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        (
            MlflowException("Model Version 4 not found", databricks_pb2.RESOURCE_DOES_NOT_EXIST),
            ModelNotFoundError,
            "M version 4: not found",
        ),
        (
            MlflowException("No such model", databricks_pb2.NOT_FOUND),
            ModelNotFoundError,
            "M version 4: not found",
        ),
        (
            # MLflow 3's missing alias.
            MlflowException("alias champion not found.", databricks_pb2.INVALID_PARAMETER_VALUE),
            ModelNotFoundError,
            "M version 4: not found",
        ),
        (
            MlflowException("Invalid alias name: '1x'.", databricks_pb2.INVALID_PARAMETER_VALUE),
            RegistryError,
            "M version 4: Invalid alias name: '1x'.",
        ),
        (
            # "not found" is a missing alias only as an INVALID_PARAMETER_VALUE.
            MlflowException("Run 'x' not found", databricks_pb2.PERMISSION_DENIED),
            RegistryError,
            "M version 4: Run 'x' not found",
        ),
        (
            MlflowException("No READ on M\nat line 3", databricks_pb2.PERMISSION_DENIED),
            RegistryError,
            "M version 4: No READ on M",
        ),
        (
            MlflowException("API request failed: Max retries exceeded with url"),
            RegistryUnavailableError,
            "M version 4: the MLflow server is unreachable",
        ),
        (
            MlflowException("Connection refused by 127.0.0.1"),
            RegistryUnavailableError,
            "M version 4: the MLflow server is unreachable",
        ),
        (
            MlflowException("the request timed out"),
            RegistryUnavailableError,
            "M version 4: the MLflow server is unreachable",
        ),
        (
            ConnectionRefusedError(111, "refused"),
            RegistryUnavailableError,
            "M version 4: the MLflow server is unreachable",
        ),
        (TimeoutError(), RegistryUnavailableError, "M version 4: the MLflow server is unreachable"),
        (PermissionError(13, "denied"), RegistryUnavailableError, "M version 4: PermissionError"),
    ],
    ids=[
        "does-not-exist",
        "not-found",
        "alias-not-found",
        "bad-parameter",
        "not-found-of-another-code",
        "refused",
        "retries",
        "connection",
        "timed-out",
        "connection-error",
        "timeout-error",
        "os-error",
    ],
)
def test_translate_turns_each_failure_into_its_domain_error(
    error: BaseException, expected: type[RegistryError], message: str
) -> None:
    with pytest.raises(RegistryError) as raised:
        translate("M version 4", lambda: raising(error))
    assert type(raised.value) is expected
    assert str(raised.value) == message
    assert raised.value.__cause__ is error


def test_translate_names_an_mlflow_error_without_a_message_by_the_exception() -> None:
    error = MlflowException("")
    with pytest.raises(RegistryError) as raised:
        translate("tag run", lambda: raising(error))
    assert type(raised.value) is RegistryError
    assert str(raised.value) == "tag run: "


def test_translate_lets_other_exceptions_through() -> None:
    with pytest.raises(KeyError):
        translate("read", lambda: raising(KeyError("x")))


@pytest.fixture
def uris(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MLflow's in-process URIs as they were before the test."""
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


@pytest.mark.usefixtures("uris")
@pytest.mark.parametrize("before", [None, "http://127.0.0.1:9/elsewhere"])
def test_process_uris_points_mlflow_at_a_store_and_leaves_the_environment_as_it_was(
    before: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        if before is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, before)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with process_uris(uri):
        assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == (uri, uri)
    assert os.environ.get("MLFLOW_TRACKING_URI") == before
    assert os.environ.get("MLFLOW_REGISTRY_URI") == before


@pytest.mark.usefixtures("uris")
def test_process_uris_restores_the_environment_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9/before")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with pytest.raises(RuntimeError), process_uris(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        raise RuntimeError("the run failed")
    assert os.environ.get("MLFLOW_TRACKING_URI") == "http://127.0.0.1:9/before"
    assert "MLFLOW_REGISTRY_URI" not in os.environ


@pytest.fixture(scope="module")
def made_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store open_client made, with its folders (made once: MLflow's migrations take seconds)."""
    db = tmp_path_factory.mktemp("store") / "a" / "b" / "mlflow.db"
    client = open_client(f"sqlite:///{db}?timeout=5")
    assert client.search_registered_models() == []
    return db


def test_open_client_makes_a_new_sqlite_store_with_its_folder(made_store: Path) -> None:
    assert made_store.is_file()


def test_open_client_refuses_a_missing_sqlite_store_it_was_told_not_to_make(
    tmp_path: Path, made_store: Path
) -> None:
    db = tmp_path / "mlrnus" / "mlflow.db"
    with pytest.raises(RegistryInputError) as raised:
        open_client(f"sqlite:///{db}", create_store=False)
    assert str(raised.value) == (
        f"no MLflow store at {db}: check the tracking URI (--tracking-uri, "
        "SENTIMENT_TRACKING_URI), or train a model first"
    )
    assert not db.parent.exists()
    client = open_client(f"sqlite:///{made_store}", create_store=False)  # one that exists
    assert client.search_registered_models() == []


@pytest.mark.parametrize(
    ("uri", "named"),
    [("bogus://host/x", "bogus"), ("{tmp}/mlflow.db", "a plain path")],
)
def test_open_client_names_the_kind_of_uri_it_cannot_use(
    uri: str, named: str, tmp_path: Path
) -> None:
    with pytest.raises(RegistryInputError) as raised:
        open_client(uri.format(tmp=tmp_path))
    assert str(raised.value) == (
        f"MLflow cannot use the tracking URI ({named}): use sqlite:///path/to/mlflow.db, "
        "http(s)://host:port, or a database URI"
    )


def test_a_database_uri_without_a_port_is_checked_at_the_default_port() -> None:
    # Whatever answers on 127.0.0.1:5432 here (nothing, or a server refusing this login), the
    # error names the default port, and never the password.
    with pytest.raises(RegistryUnavailableError) as raised:
        open_client(f"postgresql+psycopg2://no-such-user:{SECRET}@127.0.0.1/no-such-db")
    assert "the postgresql server at 127.0.0.1:5432 " in str(raised.value)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    "uri",
    [
        f"postgresql://u:{SECRET}@127.0.0.1:/db",  # an empty port
        f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:54x32/db",
        f"postgresql://u:{SECRET}@[::1/db",  # an unclosed IPv6 address
    ],
    ids=["empty-port", "port-not-a-number", "unclosed-ipv6"],
)
def test_a_malformed_database_uri_is_bad_input(uri: str) -> None:
    # SQLAlchemy raises a ValueError for these: it escaped as a traceback.
    with pytest.raises(RegistryInputError) as raised:
        open_client(uri)
    assert str(raised.value) == "the postgresql tracking URI is malformed"


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("sqlite:///tmp/mlflow.db", True),
        ("file:///tmp/mlruns", True),
        ("mlruns", True),
        ("/srv/mlflow/mlruns", True),
        ("http://127.0.0.1:5000", False),
        ("https://mlflow.example.invalid", False),
        ("postgresql://u@db/mlflow", False),
    ],
)
def test_which_uris_are_local_stores(uri: str, local: bool) -> None:
    assert is_local_store(uri) is local


def test_a_held_lock_times_out_naming_its_file(tmp_path: Path) -> None:
    path = tmp_path / "store" / "locks" / "mlflow.db.alias-lock"
    with file_lock(path, timeout_s=5):
        assert path.is_file()  # made, with its folders
        with pytest.raises(RegistryUnavailableError) as raised, file_lock(path, timeout_s=0.1):
            pass
    assert str(raised.value) == "another alias move has held mlflow.db.alias-lock for over 0.1 s"
    with file_lock(path, timeout_s=0.1):  # released
        pass


def test_a_lock_is_waited_for_until_it_is_released(tmp_path: Path) -> None:
    path = tmp_path / "alias-lock"
    held = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def holder() -> None:
        with file_lock(path, timeout_s=5):
            held.set()
            release.wait(timeout=30)
            order.append("released")

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(timeout=30)
    threading.Timer(0.3, release.set).start()
    with file_lock(path, timeout_s=60):
        order.append("acquired")
    thread.join(timeout=30)
    assert order == ["released", "acquired"]


def test_mlflow_http_requests_fail_fast_unless_told_otherwise() -> None:
    code = (
        "import json, os\n"
        "import sentiment.adapters.mlflow_connection\n"
        "print(json.dumps({k: os.environ.get(k) for k in ("
        "'MLFLOW_HTTP_REQUEST_MAX_RETRIES', 'MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', "
        "'MLFLOW_HTTP_REQUEST_TIMEOUT')}))\n"
    )
    names = (
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
    )
    env = {k: v for k, v in clean_env().items() if k not in names}
    defaults = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(defaults.stdout) == dict(zip(names, ("2", "1", "20"), strict=True))
    chosen = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7", "MLFLOW_HTTP_REQUEST_TIMEOUT": "90"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(chosen.stdout) == dict(zip(names, ("7", "1", "90"), strict=True))
