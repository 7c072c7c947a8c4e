"""A real `mlflow server` for tests: PostgreSQL backend store, proxied artifacts in a folder.

PostgreSQL is the one on 127.0.0.1:5432 (trust auth, user postgres); override with
SENTIMENT_TEST_POSTGRES=user@host:port. Each server gets a fresh database, dropped afterwards.
`restart_postgres()` restarts the local cluster with pg_ctlcluster, or runs
SENTIMENT_TEST_POSTGRES_RESTART (a command line: in CI, `docker restart` of the service container).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from tests.support.local_http import free_port
from tests.support.processes import clean_env, mlflow_server_command, running_server

POSTGRES = os.environ.get("SENTIMENT_TEST_POSTGRES", "postgres@127.0.0.1:5432")
RESTART_ENV = "SENTIMENT_TEST_POSTGRES_RESTART"
CLUSTERS = Path("/etc/postgresql")


@dataclass(frozen=True)
class MlflowServer:
    uri: str
    """The tracking and registry URI clients use: http://127.0.0.1:PORT."""
    backend_store_uri: str
    artifacts: Path
    """--artifacts-destination: where the server keeps what clients upload."""
    log: Path
    database: str


def _open(database: str = "postgres") -> psycopg2.extensions.connection:
    user, _, address = POSTGRES.partition("@")
    host, _, port = address.partition(":")
    return psycopg2.connect(
        host=host, port=int(port or 5432), user=user, dbname=database, connect_timeout=5
    )


def _connect(database: str = "postgres") -> psycopg2.extensions.connection:
    try:
        connection = _open(database)
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES} ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
    connection.autocommit = True
    return connection


@contextmanager
def fresh_database(prefix: str = "sentiment_test") -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped (connections and all) afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        # A new connection: PostgreSQL may have been restarted in between.
        _execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _execute(statement: str) -> None:
    admin = _connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute(statement)
    finally:
        admin.close()


def database_exists(name: str) -> bool:
    admin = _connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cursor.fetchone() is not None
    finally:
        admin.close()


@contextmanager
def postgres_mlflow_server(root: Path) -> Iterator[MlflowServer]:
    """`mlflow server` with a fresh PostgreSQL database and `--artifacts-destination` under
    `root`, on a free loopback port, one worker, no job runner."""
    with fresh_database() as database, server_process(root, database, free_port()) as server:
        yield server


@contextmanager
def server_process(root: Path, database: str, port: int) -> Iterator[MlflowServer]:
    """`mlflow server` on an existing database and port (start it again after stopping it to
    simulate an outage of the registry)."""
    user, _, address = POSTGRES.partition("@")
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the project ships psycopg2.
    backend = f"postgresql+psycopg2://{user}@{address}/{database}"
    artifacts = root / "served-artifacts"
    log = root / "mlflow-server.log"
    command = mlflow_server_command(backend, artifacts, port)
    env = clean_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    uri = f"http://127.0.0.1:{port}"
    with running_server(command, f"{uri}/health", log, env=env, cwd=root):
        yield MlflowServer(uri, backend, artifacts, log, database)


def restart_command(
    environ: Mapping[str, str] = os.environ, clusters: Path = CLUSTERS
) -> list[str]:
    """How to restart the PostgreSQL at POSTGRES: $SENTIMENT_TEST_POSTGRES_RESTART when set (a
    server this machine does not run as a cluster, such as a CI service container), else
    pg_ctlcluster on the newest local cluster."""
    configured = environ.get(RESTART_ENV, "").strip()
    if configured:
        return shlex.split(configured)
    versions = sorted(os.listdir(clusters)) if clusters.is_dir() else []
    if not versions:
        pytest.fail(f"no PostgreSQL cluster in {clusters}: set {RESTART_ENV} to a restart command")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


def restart_postgres(timeout_s: float = 60.0) -> float:
    """Restart PostgreSQL (`restart_command()`) and wait until it accepts connections again;
    returns how long it took. Other sessions lose their connections: keep it rare and short."""
    started = time.monotonic()
    subprocess.run(restart_command(), check=True, capture_output=True, timeout=120)
    while True:  # `docker restart` returns before the server inside accepts connections
        try:
            _open().close()
            break
        except psycopg2.OperationalError:
            if time.monotonic() - started > timeout_s:
                raise
            time.sleep(0.5)
    return time.monotonic() - started
