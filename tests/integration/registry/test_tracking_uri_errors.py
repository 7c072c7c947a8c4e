"""A tracking URI MLflow cannot use, or a database that does not answer: one domain error within
seconds (MLflow's own client raised a bare MlflowException, an ImportError or, after retrying
for 100 s, a SQLAlchemy error: the CLIs printed a traceback)."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.domain.errors import RegistryInputError, RegistryUnavailableError
from sentiment.entrypoints import evaluate, registry
from tests.support.local_http import free_port
from tests.support.mlflow_servers import POSTGRES, database_exists

SECRET = "s3cret-pw"


@pytest.fixture
def not_a_database() -> Iterator[int]:
    """A local port that accepts connections and answers nonsense, then hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.sendall(b"garbage\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


@pytest.mark.parametrize("uri", ["bogus://host/x", "file:///{tmp}/fs", "{tmp}/mlflow.db"])
def test_a_uri_mlflow_cannot_use_is_bad_input(uri: str, tmp_path: Path) -> None:
    store = MlflowModelRegistry(tracking_uri=uri.format(tmp=tmp_path))
    with pytest.raises(RegistryInputError, match="MLflow cannot use the tracking URI"):
        store.list_versions()


def test_the_registry_cli_says_so_in_one_line_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = registry.main(["list", "--tracking-uri", "bogus://host/x"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: MLflow cannot use the tracking URI (bogus)")
    assert err.count("\n") == 1


def test_a_database_uri_with_a_malformed_port_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # SQLAlchemy's ValueError escaped: "unexpected error", a traceback, exit 1.
    code = registry.main(["list", "--tracking-uri", f"postgresql://u:{SECRET}@127.0.0.1:/db"])
    _, err = capsys.readouterr()
    assert (code, err) == (2, "error: the postgresql tracking URI is malformed\n")


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", ""], ids=["host", "local-socket"])
def test_a_database_driver_sqlalchemy_does_not_know_is_one_line_and_exit_2(
    host: str, not_a_database: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # A mistyped driver: with a host, SQLAlchemy's NoSuchModuleError escaped ("unexpected
    # error", exit 1); without one (a local socket), it was "the MLflow database cannot be used:
    # NoSuchModuleError", exit 1: the unavailable store the API keeps retrying.
    where = host.format(port=not_a_database)
    uri = f"postgresql+pyscopg2://u:{SECRET}@{where}/db"
    code = registry.main(["list", "--tracking-uri", uri])
    _, err = capsys.readouterr()
    assert (code, err) == (
        2,
        "error: the postgresql tracking URI names a database driver SQLAlchemy does not "
        "know (postgresql+pyscopg2)\n",
    )


def test_a_database_server_that_is_away_is_unavailable_at_once() -> None:
    port = free_port()
    store = MlflowModelRegistry(
        tracking_uri=f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:{port}/db"
    )
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError, match=f"127.0.0.1:{port} is unreachable") as info:
        store.list_versions()
    assert time.monotonic() - started < 15
    assert SECRET not in str(info.value)


def test_a_server_that_is_no_database_is_unavailable_at_once(not_a_database: int) -> None:
    uri = f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:{not_a_database}/db"
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError, match="refused the connection") as info:
        MlflowModelRegistry(tracking_uri=uri).list_versions()
    assert time.monotonic() - started < 15
    assert SECRET not in str(info.value)


def test_a_login_the_database_server_refuses_is_said_with_the_server_s_reason() -> None:
    # The PostgreSQL of the tests (tests/support/mlflow_servers.py) answers, and refuses a role
    # it does not know: its reason, not only "OperationalError", tells the user what to mend.
    assert database_exists("postgres")  # it answers (or this fails saying how to start it)
    host, _, port = POSTGRES.partition("@")[2].partition(":")
    uri = f"postgresql+psycopg2://no-such-role:{SECRET}@{host}:{port or 5432}/postgres"
    with pytest.raises(RegistryUnavailableError) as info:
        MlflowModelRegistry(tracking_uri=uri).list_versions()
    where, _, reason = str(info.value).partition(" refused the connection: ")
    assert where == f"the postgresql server at {host}:{port or 5432}"
    # 'role "no-such-role" does not exist' (trust), or 'password authentication failed for
    # user "no-such-role"'.
    assert '"no-such-role"' in reason
    assert SECRET not in reason


@pytest.mark.skipif(
    importlib.util.find_spec("psycopg") is not None, reason="psycopg (3) is installed"
)
def test_a_database_driver_that_is_not_installed_is_bad_input(not_a_database: int) -> None:
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which this project does not ship.
    store = MlflowModelRegistry(tracking_uri=f"postgresql://u@127.0.0.1:{not_a_database}/db")
    with pytest.raises(RegistryInputError, match="needs the package psycopg"):
        store.list_versions()


@pytest.mark.parametrize(
    ("cli", "args"),
    [
        (registry.main, ["list"]),
        (registry.main, ["history"]),
        (registry.main, ["promote", "1", "--reason", "typo"]),
        (registry.main, ["rollback"]),
        (evaluate.main, ["--data", "reviews.csv"]),
        (evaluate.main, ["--data", "reviews.csv", "--log"]),
    ],
    ids=["list", "history", "promote", "rollback", "evaluate", "evaluate-log"],
)
def test_a_sqlite_store_that_does_not_exist_is_not_made_by_a_command_that_reads_one(
    cli: Callable[[list[str]], int],
    args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A mistyped path made a new, empty store and answered "no registered version", exit 0.
    typo = tmp_path / "mlrnus" / "mlflow.db"
    (tmp_path / "reviews.csv").write_text("text,label\ngood,positive\nbad,negative\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        code = cli([*args, "--tracking-uri", f"sqlite:///{typo}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1] == (  # after evaluate's progress line
        f"error: no MLflow store at {typo}: check the tracking URI (--tracking-uri, "
        "SENTIMENT_TRACKING_URI), or train a model first"
    )
    assert not typo.parent.exists()


def test_training_still_makes_a_new_sqlite_store(tmp_path: Path) -> None:
    store = tmp_path / "new" / "mlflow.db"
    assert MlflowModelRegistry(tracking_uri=f"sqlite:///{store}").list_versions() == []
    assert store.is_file()
