"""Reaching an MLflow store: MLflow's client for a tracking URI, checked so that what makes it
fail is one line within seconds; MLflow's exceptions as domain errors; MLflow's process-wide URIs
for one fluent run; the lock file of alias moves on a SQLite store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sentiment.domain.errors import (
    ModelNotFoundError,
    RegistryError,
    RegistryInputError,
    RegistryUnavailableError,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

T = TypeVar("T")

# Fail fast when a remote server is away (the MLflow defaults retry for minutes); the API retries
# in the background instead. Set these variables yourself to override.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def process_uris(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at `uri` for one run, leaving the environment as it was.

    `mlflow.set_tracking_uri` also writes `MLFLOW_TRACKING_URI` into the environment, which
    every later subprocess would inherit; the previous values are restored on the way out.
    (MLflow's in-process default stays at `uri`, as after any fluent run.)
    """
    import mlflow

    saved = {name: os.environ.get(name) for name in _URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def translate(what: str, call: Callable[[], T]) -> T:
    """Run an MLflow call, turning its exceptions into domain errors."""
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except MlflowException as exc:
        message = str(exc.message)
        if _is_not_found(exc.error_code, message):
            raise ModelNotFoundError(f"{what}: not found") from exc
        if "Max retries exceeded" in message or "Connection" in message or "timed out" in message:
            raise RegistryUnavailableError(f"{what}: the MLflow server is unreachable") from exc
        raise RegistryError(f"{what}: {message.splitlines()[0] if message else exc}") from exc
    except (ConnectionError, TimeoutError) as exc:
        raise RegistryUnavailableError(f"{what}: the MLflow server is unreachable") from exc
    except OSError as exc:
        # requests' ConnectionError is an OSError subclass.
        raise RegistryUnavailableError(f"{what}: {type(exc).__name__}") from exc


def _is_not_found(error_code: str, message: str) -> bool:
    # A missing alias is INVALID_PARAMETER_VALUE "... alias X not found" in MLflow 3.
    return error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or (
        error_code == "INVALID_PARAMETER_VALUE" and message.rstrip(".").endswith("not found")
    )


_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
DATABASE_CONNECT_TIMEOUT_S = 5.0


def open_client(uri: str, create_store: bool = True) -> MlflowClient:
    """MLflow's client for `uri`; what makes that fail is one domain error, never a trace.

    A `sqlite:///` store that does not exist is made (with its folder), unless `create_store`
    is False: then it is a RegistryInputError (a mistyped path, where a store was meant).

    A URI MLflow cannot use (an unknown scheme, its retired file store, a database driver that
    is not installed) is a RegistryInputError; a database server that does not answer is a
    RegistryUnavailableError within seconds (MLflow itself retries for 100 s). The messages
    never repeat the URI, which may hold a password.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    scheme = uri.partition("://")[0].partition("+")[0] if "://" in uri else ""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
        if not create_store and not db.is_file():
            raise RegistryInputError(
                f"no MLflow store at {db}: check the tracking URI (--tracking-uri, "
                "SENTIMENT_TRACKING_URI), or train a model first"
            )
        db.parent.mkdir(parents=True, exist_ok=True)
    elif scheme in _DATABASE_PORTS:
        _check_database_answers(uri, scheme)
    try:
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    except ImportError as exc:
        raise RegistryInputError(
            f"the tracking URI ({scheme or 'no scheme'}) needs the package "
            f"{exc.name or exc}, which is not installed"
        ) from exc
    except MlflowException as exc:
        if exc.error_code == "INVALID_PARAMETER_VALUE":
            raise RegistryInputError(
                f"MLflow cannot use the tracking URI ({scheme or 'a plain path'}): use "
                "sqlite:///path/to/mlflow.db, http(s)://host:port, or a database URI"
            ) from exc
        raise RegistryError(f"open the MLflow store: {exc.message.splitlines()[0]}") from exc
    except SQLAlchemyError as exc:
        raise RegistryUnavailableError(
            f"the MLflow database cannot be used: {type(exc).__name__}"
        ) from exc


def _check_database_answers(uri: str, scheme: str) -> None:
    """Raise RegistryUnavailableError unless the database server of `uri` accepts a TCP
    connection (a URI without a host, for a local socket, is left to the driver)."""
    import socket

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(uri)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise RegistryInputError(f"the {scheme} tracking URI is malformed") from exc
    try:  # with a host or without (a local socket): MLflow would retry it as unavailable
        url.get_dialect()
    except NoSuchModuleError as exc:  # a mistyped driver: postgresql+pyscopg2://
        raise RegistryInputError(
            f"the {scheme} tracking URI names a database driver SQLAlchemy does not know "
            f"({url.drivername})"
        ) from exc
    if not url.host:
        return
    port = url.port or _DATABASE_PORTS[scheme]
    where = f"the {scheme} server at {url.host}:{port}"
    try:
        socket.create_connection((url.host, port), timeout=DATABASE_CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RegistryUnavailableError(
            f"{where} is unreachable ({exc.strerror or type(exc).__name__})"
        ) from exc
    # One real connection: a refused login or a server that speaks another protocol is said
    # at once, not after MLflow's ten attempts.
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(url, poolclass=NullPool)
    except ImportError as exc:
        raise RegistryInputError(
            f"the {scheme} tracking URI needs the package {exc.name or exc}, which is not installed"
        ) from exc
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()
        raise RegistryUnavailableError(
            f"{where} refused the connection: {detail[0][:200] if detail else exc}"
        ) from exc
    finally:
        engine.dispose()


@contextmanager
def file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """An exclusive lock on `path` (made if missing) among processes, for `timeout_s` at most
    (then RegistryUnavailableError); no lock where the platform has no `fcntl`."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RegistryUnavailableError(
                        f"another alias move has held {path.name} for over {timeout_s:g} s"
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri
