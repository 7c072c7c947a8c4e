"""Read-only access to an MLflow model registry without importing MLflow: the API's read path.

`MlflowModelRegistry` imports the MLflow client, and with it SQLAlchemy, pandas and more: seconds
of start-up and a hundred MB of memory in every API worker, only to resolve an alias and fetch a
file. The readers here implement `ModelReader` (what `LoadModel` needs) with the standard library:

- `RestModelReader`, for an `http(s)://` tracking URI: MLflow's REST API (`registered-models/
  alias`, `model-versions/get`, `model-versions/search`, `registered-models/get`, `runs/get`,
  `model-versions/get-download-uri`) and the artifact proxy (`mlflow-artifacts`), with urllib.
  `MLFLOW_TRACKING_TOKEN` or `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD` authenticate
  as they do for MLflow's client.
- `SqliteModelReader`, for a `sqlite:///` store: the stdlib sqlite3, read-only, on MLflow's own
  tables (`model_versions`, `model_version_tags`, `registered_model_aliases`, `runs`,
  `latest_metrics`) as MLflow's SQLAlchemy store reads them. The columns it needs are checked on
  first use; `tests/integration/registry/test_lean_reader.py` pins the schema versions tested.

Both load a version from the pickle-free `serving.npz` next to its MLflow model when it has one
(numpy only, `HashedLinearClassifier`); otherwise (another model type, an older version) from its
`model.skops`, as `MlflowModelRegistry` does. Artifacts stored elsewhere (`s3://`...) are loaded
through `MlflowModelRegistry`. Every failure is a domain error: ModelNotFoundError,
RegistryUnavailableError, ModelLoadError, RegistryError.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import os
import shutil
import sqlite3
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment.adapters.hashed_linear import FILE_NAME as SERVING_FILE
from sentiment.adapters.hashed_linear import HashedLinearClassifier
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
)
from sentiment.domain.model import ModelVersion
from sentiment.domain.model_ref import canonical_version, check_alias
from sentiment.domain.ports import Classifier, ModelReader

SKOPS_FILE = "model.skops"
DELETED_STAGE = "Deleted_Internal"  # MLflow's mark of a deleted model version
DEFAULT_WORKSPACE = "default"
# MLflow schema revisions (alembic_version) this reader was tested on; others are read if the
# columns it needs are there (see `SqliteModelReader`).
TESTED_SCHEMAS = frozenset({"dc11669786a5"})
_REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "model_versions": frozenset(
        {"name", "version", "creation_time", "current_stage", "source", "run_id"}
    ),
    "model_version_tags": frozenset({"key", "value", "name", "version"}),
    "registered_model_aliases": frozenset({"alias", "version", "name"}),
    "runs": frozenset({"run_uuid", "status"}),
    "latest_metrics": frozenset({"key", "value", "is_nan", "run_uuid"}),
}


@dataclass(frozen=True, slots=True)
class _Version:
    """What a lookup returns: the domain view, and where the version's files are."""

    info: ModelVersion
    artifact_uri: str


class _LeanReader(ModelReader):
    """What both readers share: loading a version's files into a classifier."""

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self._tracking_uri = tracking_uri
        self._model_name = model_name

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    # -- lookups, by subclasses ---------------------------------------------------------------

    def _version(self, number: str) -> _Version:
        raise NotImplementedError

    def _alias(self, alias: str) -> _Version:
        raise NotImplementedError

    def _download_uri(self, found: _Version) -> str:
        """Where the version's files are (what MLflow's get-download-uri answers)."""
        raise NotImplementedError

    def _fetch(self, artifact_uri: str, name: str, destination: Path) -> Path | None:
        """The artifact `name` under `artifact_uri` as a local file (downloaded into
        `destination` unless the store is a local folder); None when the store has no such
        file. Raises _UnsupportedStoreError for a store it cannot read."""
        raise NotImplementedError

    # -- ModelReader --------------------------------------------------------------------------

    def get_version(self, version: str) -> ModelVersion:
        number = canonical_version(version)
        if number is None:
            raise ModelNotFoundError(f"{self._model_name} has no version {version!r}")
        return self._version(number).info

    def get_by_alias(self, alias: str) -> ModelVersion:
        check_alias(alias)
        return self._alias(alias).info

    def load(self, version: str) -> Classifier:
        number = canonical_version(version)
        if number is None:
            raise ModelNotFoundError(f"{self._model_name} has no version {version!r}")
        found = self._version(number)
        uri = f"models:/{self._model_name}/{number}"
        location = self._download_uri(found)
        with tempfile.TemporaryDirectory(prefix=f"sentiment-model-{number}-") as tmp:
            destination = Path(tmp)
            try:
                serving = self._fetch(location, SERVING_FILE, destination)
                if serving is not None:
                    return HashedLinearClassifier.from_file(serving)
                skops = self._fetch(location, SKOPS_FILE, destination)
            except _UnsupportedStoreError:
                return self._load_with_mlflow(number)
            if skops is None:
                raise ModelLoadError(
                    f"{uri}: the model's artifacts are missing from the artifact store "
                    f"(no {SERVING_FILE} nor {SKOPS_FILE} under {location})"
                )
            return _skops_classifier(skops, found.info, uri)

    def _load_with_mlflow(self, number: str) -> Classifier:
        """Artifacts in a store only MLflow's client reads (s3, gcs, ...)."""
        from sentiment.adapters.mlflow_registry import MlflowModelRegistry

        registry = MlflowModelRegistry(tracking_uri=self._tracking_uri, model_name=self._model_name)
        return registry.load(number)


class _UnsupportedStoreError(Exception):
    """An artifact location this reader does not read itself."""


def _skops_classifier(path: Path, info: ModelVersion, uri: str) -> Classifier:
    """The fallback: a SklearnClassifier from the version's skops file (imports scikit-learn)."""
    from sentiment.adapters import skops_format
    from sentiment.adapters.sklearn_classifier import SklearnClassifier

    pipeline = skops_format.load(path)
    model_type = info.tags.get("model_type") or "nblr"
    try:
        return SklearnClassifier(model_type, pipeline=pipeline)
    except Exception as exc:
        raise ModelLoadError(f"{uri}: {exc}") from exc


def _local_path(artifact_uri: str) -> Path | None:
    """The folder of a `file:` URI or a plain path; None for any other scheme."""
    parsed = urllib.parse.urlparse(artifact_uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(artifact_uri)
    return None


def _local_file(folder: Path, name: str) -> Path | None:
    """A file of a local artifact folder, read where it is (nothing to download)."""
    source = folder / name
    return source if source.is_file() else None


# -- SQLite ------------------------------------------------------------------------------------


class SqliteModelReader(_LeanReader):
    """A `sqlite:///` MLflow store, read with sqlite3 (read-only) on MLflow's tables.

    Reads what MLflow's SQLAlchemy store reads: versions not marked deleted, of the default
    workspace (when the schema has workspaces); a version's files where its `storage_location`
    says, else its `source`; a run's metrics from `latest_metrics`.
    """

    def __init__(self, tracking_uri: str, model_name: str, timeout_s: float = 10.0) -> None:
        super().__init__(tracking_uri, model_name)
        if not tracking_uri.startswith("sqlite:///"):
            raise RegistryError(f"not a SQLite store URI: {tracking_uri!r}")
        self._path = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
        self._timeout_s = timeout_s
        self._schema: _Schema | None = None

    @contextmanager
    def _session(self) -> Iterator[_Session | None]:
        """A read-only session; None when the store holds nothing yet (no file, no tables)."""
        if not self._path.exists():
            yield None
            return
        uri = f"{self._path.resolve().as_uri()}?mode=ro"
        try:
            connection = sqlite3.connect(uri, uri=True, timeout=self._timeout_s)
        except sqlite3.Error as exc:
            raise RegistryUnavailableError(f"cannot open {self._path}: {exc}") from exc
        with closing(connection):
            try:
                schema = self._schema or self._read_schema(connection)
                yield None if schema is None else _Session(connection, schema, self._model_name)
            except sqlite3.OperationalError as exc:
                message = str(exc)
                if "locked" in message or "unable to open" in message or "disk I/O" in message:
                    raise RegistryUnavailableError(f"{self._path}: {message}") from exc
                raise RegistryError(
                    f"{self._path}: {message} (an MLflow schema this reader does not know? "
                    "set SENTIMENT_SERVING_READER=mlflow)"
                ) from exc
            except sqlite3.DatabaseError as exc:
                raise RegistryError(f"{self._path} is not a readable MLflow store: {exc}") from exc

    def _read_schema(self, connection: sqlite3.Connection) -> _Schema | None:
        """Check that MLflow's tables have the columns read here; None before MLflow made them."""
        listed = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        tables = {row[0] for row in listed}
        if "model_versions" not in tables:
            return None
        columns: dict[str, set[str]] = {}
        for table, needed in _REQUIRED_COLUMNS.items():
            columns[table] = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
            missing = needed - columns[table]
            if missing:
                raise RegistryError(
                    f"{self._path}: table {table} lacks {', '.join(sorted(missing))}: not an "
                    "MLflow schema this reader knows; set SENTIMENT_SERVING_READER=mlflow"
                )
        self._schema = _Schema(
            workspaces=all("workspace" in columns[t] for t in _WORKSPACE_TABLES),
            storage_location="storage_location" in columns["model_versions"],
        )
        return self._schema

    def _version(self, number: str) -> _Version:
        with self._session() as session:
            found = session.version(number) if session else None
        if found is None:
            raise ModelNotFoundError(f"{self._model_name} version {number}: not found")
        return found

    def _alias(self, alias: str) -> _Version:
        with self._session() as session:
            found = session.alias(alias) if session else None
        if found is None:
            raise ModelNotFoundError(f"{self._model_name}@{alias}: not found")
        return found

    def list_versions(self) -> list[ModelVersion]:
        with self._session() as session:
            return session.versions() if session else []

    def _download_uri(self, found: _Version) -> str:
        return found.artifact_uri

    def _fetch(self, artifact_uri: str, name: str, destination: Path) -> Path | None:
        folder = _local_path(artifact_uri)
        if folder is None:
            raise _UnsupportedStoreError(artifact_uri)
        return _local_file(folder, name)


_WORKSPACE_TABLES = ("model_versions", "model_version_tags", "registered_model_aliases")


@dataclass(frozen=True, slots=True)
class _Schema:
    workspaces: bool
    """The registry tables have a `workspace` column (MLflow >= 3.x): read the default one."""
    storage_location: bool


class _Session:
    """The queries of one read, on one connection."""

    def __init__(self, connection: sqlite3.Connection, schema: _Schema, model_name: str) -> None:
        self._db = connection
        self._name = model_name
        self._workspace = f" AND workspace = '{DEFAULT_WORKSPACE}'" if schema.workspaces else ""
        self._location = "storage_location" if schema.storage_location else "NULL"

    def _rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def _version_rows(self, number: str | None) -> list[tuple[Any, ...]]:
        one = " AND version = ?" if number is not None else ""
        params: tuple[Any, ...] = (self._name, DELETED_STAGE)
        return self._rows(
            f"SELECT version, creation_time, run_id, source, {self._location} "  # noqa: S608
            "FROM model_versions WHERE name = ? AND (current_stage IS NULL OR current_stage != ?)"
            f"{self._workspace}{one} ORDER BY version",
            *(params if number is None else (*params, int(number))),
        )

    def version(self, number: str) -> _Version | None:
        rows = self._version_rows(number)
        return self._build(rows[0]) if rows else None

    def alias(self, alias: str) -> _Version | None:
        rows = self._rows(
            "SELECT version FROM registered_model_aliases "  # noqa: S608
            f"WHERE name = ? AND alias = ?{self._workspace}",
            self._name,
            alias,
        )
        return self.version(str(rows[0][0])) if rows else None

    def versions(self) -> list[ModelVersion]:
        by_version: dict[str, list[str]] = {}
        for alias, number in self._rows(
            f"SELECT alias, version FROM registered_model_aliases WHERE name = ?{self._workspace}",  # noqa: S608
            self._name,
        ):
            by_version.setdefault(str(number), []).append(str(alias))
        return [
            self._build(row, tuple(sorted(by_version.get(str(row[0]), ())))).info
            for row in self._version_rows(None)
        ]

    def _build(self, row: tuple[Any, ...], aliases: tuple[str, ...] | None = None) -> _Version:
        version, created_ms, run_id, source, storage = row
        tags = {
            str(key): "" if value is None else str(value)
            for key, value in self._rows(
                "SELECT key, value FROM model_version_tags "  # noqa: S608
                f"WHERE name = ? AND version = ?{self._workspace}",
                self._name,
                version,
            )
        }
        if aliases is None:
            aliases = tuple(
                sorted(
                    str(r[0])
                    for r in self._rows(
                        "SELECT alias FROM registered_model_aliases "  # noqa: S608
                        f"WHERE name = ? AND version = ?{self._workspace}",
                        self._name,
                        version,
                    )
                )
            )
        status, metrics = self._run(str(run_id or ""))
        info = ModelVersion(
            name=self._name,
            version=str(version),
            run_id=str(run_id or ""),
            aliases=aliases,
            tags=tags,
            metrics=metrics,
            dataset_digest=tags.get("dataset_digest", ""),
            created_at=(created_ms or 0) / 1000.0,
            run_status=status,
        )
        # As MLflow's SQL store answers get-download-uri: the storage location, else the source.
        return _Version(info, str(storage or source or ""))

    def _run(self, run_id: str) -> tuple[str, dict[str, float]]:
        if not run_id:
            return "", {}
        runs = self._rows("SELECT status FROM runs WHERE run_uuid = ?", run_id)
        if not runs:  # a deleted run leaves the version usable
            return "", {}
        metrics = {
            str(key): math.nan if is_nan else float(value)
            for key, value, is_nan in self._rows(
                "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?", run_id
            )
        }
        return str(runs[0][0] or ""), metrics


# -- REST --------------------------------------------------------------------------------------


class RestModelReader(_LeanReader):
    """An MLflow tracking server, through its REST API and its artifact proxy (urllib)."""

    def __init__(self, tracking_uri: str, model_name: str, timeout_s: float = 10.0) -> None:
        super().__init__(tracking_uri, model_name)
        parsed = urllib.parse.urlparse(tracking_uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RegistryError(f"not an http(s) tracking URI: {tracking_uri!r}")
        self._base = tracking_uri.rstrip("/")
        self._scheme = parsed.scheme
        self._timeout_s = timeout_s

    # -- HTTP ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "sentiment-lean-reader"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user:
            password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
            basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {basic}"
        return headers

    def _get(self, endpoint: str, what: str, **params: str) -> dict[str, Any]:
        """GET /api/2.0/mlflow/<endpoint> as JSON, errors translated."""
        url = f"{self._base}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers=self._headers())  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(what, exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryUnavailableError(f"{what}: the MLflow server is unreachable") from exc
        except http.client.HTTPException as exc:  # an answer cut short (IncompleteRead)...
            raise _broken_off(what, exc) from exc
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise RegistryError(f"{what}: the server did not answer JSON") from exc
        if not isinstance(data, dict):
            raise RegistryError(f"{what}: unexpected answer")
        return data

    # -- lookups ------------------------------------------------------------------------------

    def _version(self, number: str) -> _Version:
        data = self._get(
            "model-versions/get",
            f"{self._model_name} version {number}",
            name=self._model_name,
            version=number,
        )
        return self._build(data.get("model_version") or {})

    def _alias(self, alias: str) -> _Version:
        data = self._get(
            "registered-models/alias",
            f"{self._model_name}@{alias}",
            name=self._model_name,
            alias=alias,
        )
        return self._build(data.get("model_version") or {})

    def _build(
        self, mv: object, aliases_by_version: Mapping[str, list[str]] | None = None
    ) -> _Version:
        """A model version as the server answered it; `aliases_by_version` instead of its own
        `aliases` (which a search leaves empty)."""
        if not isinstance(mv, Mapping) or not mv.get("version"):
            raise RegistryError(f"{self._model_name}: the server answered no model version")
        version = str(mv["version"])
        run_id = str(mv.get("run_id") or "")
        status, metrics = self._run(run_id)
        with _reading_answer(f"{self._model_name} version {version}"):
            tags = {str(t.get("key")): str(t.get("value", "")) for t in mv.get("tags") or ()}
            aliases = (
                mv.get("aliases") if aliases_by_version is None else aliases_by_version.get(version)
            )
            info = ModelVersion(
                name=str(mv.get("name") or self._model_name),
                version=version,
                run_id=run_id,
                aliases=tuple(sorted(str(a) for a in aliases or ())),
                tags=tags,
                metrics=metrics,
                dataset_digest=tags.get("dataset_digest", ""),
                created_at=int(mv.get("creation_timestamp") or 0) / 1000.0,
                run_status=status,
            )
            return _Version(info, str(mv.get("storage_location") or mv.get("source") or ""))

    def _run(self, run_id: str) -> tuple[str, dict[str, float]]:
        if not run_id:
            return "", {}
        try:
            data = self._get("runs/get", f"run {run_id}", run_id=run_id)
        except ModelNotFoundError:  # a deleted run leaves the version usable
            return "", {}
        with _reading_answer(f"run {run_id}"):
            run = data.get("run") or {}
            metrics = {
                str(m.get("key")): float(m.get("value", "nan"))
                for m in (run.get("data") or {}).get("metrics") or ()
            }
            return str((run.get("info") or {}).get("status") or ""), metrics

    def list_versions(self) -> list[ModelVersion]:
        found: list[object] = []
        token = ""
        while True:
            params = {"filter": f"name = '{_quoted(self._model_name)}'", "max_results": "1000"}
            if token:
                params["page_token"] = token
            what = f"versions of {self._model_name}"
            data = self._get("model-versions/search", what, **params)
            with _reading_answer(what):
                found.extend(data.get("model_versions") or ())
            token = str(data.get("next_page_token") or "")
            if not token:
                break
        if not found:
            return []
        # The search leaves `aliases` empty: read them from the registered model.
        what = f"aliases of {self._model_name}"
        registered = self._get("registered-models/get", what, name=self._model_name)
        by_version: dict[str, list[str]] = {}
        with _reading_answer(what):
            for entry in (registered.get("registered_model") or {}).get("aliases") or ():
                by_version.setdefault(str(entry.get("version")), []).append(str(entry.get("alias")))
        versions = [self._build(mv, by_version).info for mv in found]
        with _reading_answer(f"versions of {self._model_name}"):
            return sorted(versions, key=lambda v: int(v.version))

    def _download_uri(self, found: _Version) -> str:
        number = found.info.version
        data = self._get(
            "model-versions/get-download-uri",
            f"download URI of {self._model_name} version {number}",
            name=self._model_name,
            version=number,
        )
        return str(data.get("artifact_uri") or found.artifact_uri)

    def _fetch(self, artifact_uri: str, name: str, destination: Path) -> Path | None:
        parsed = urllib.parse.urlparse(artifact_uri)
        if parsed.scheme != "mlflow-artifacts":
            folder = _local_path(artifact_uri)
            if folder is None:
                raise _UnsupportedStoreError(artifact_uri)
            return _local_file(folder, name)
        base = f"{self._scheme}://{parsed.netloc}" if parsed.netloc else self._base
        path = urllib.parse.quote(f"{parsed.path.strip('/')}/{name}")
        url = f"{base}/api/2.0/mlflow-artifacts/artifacts/{path}"
        request = urllib.request.Request(url, headers=self._headers())  # noqa: S310
        target = destination / name
        try:
            with (
                urllib.request.urlopen(request, timeout=self._timeout_s) as response,  # noqa: S310
                target.open("wb") as handle,
            ):
                shutil.copyfileobj(response, handle, 1 << 20)
                announced = str(response.headers.get("Content-Length") or "")
                received = handle.tell()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise _http_error(f"download {name}", exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryUnavailableError(
                f"download {name}: the MLflow server is unreachable"
            ) from exc
        except http.client.HTTPException as exc:
            raise _broken_off(f"download {name}", exc) from exc
        # Read in chunks, a body shorter than its Content-Length just ends (no IncompleteRead).
        if announced.isdigit() and received < int(announced):
            raise RegistryUnavailableError(
                f"download {name}: the MLflow server's answer broke off after {received} of "
                f"{announced} bytes"
            )
        return target


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


@contextmanager
def _reading_answer(what: str) -> Iterator[None]:
    """Reading the fields of a server's JSON answer: one of another type than MLflow's (a
    list for an object, text for a number) is a RegistryError, not Python's own error."""
    try:
        yield
    except (AttributeError, TypeError, ValueError) as exc:
        raise RegistryError(f"{what}: unexpected answer ({exc})") from exc


def _broken_off(what: str, exc: http.client.HTTPException) -> RegistryUnavailableError:
    """An exchange http.client gave up on: an answer shorter than announced, or not HTTP at
    all. Not an OSError, so urllib lets it through as it is."""
    return RegistryUnavailableError(
        f"{what}: the MLflow server's answer broke off ({type(exc).__name__})"
    )


def _http_error(what: str, exc: urllib.error.HTTPError) -> RegistryError:
    """An MLflow REST error as a domain error (by its status alone if its body is unreadable)."""
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError, http.client.HTTPException):
        body = {}
    code = str(body.get("error_code", "")) if isinstance(body, dict) else ""
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    not_found = code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or (
        code == "INVALID_PARAMETER_VALUE" and message.rstrip(".").endswith("not found")
    )
    if not_found or (exc.code == 404 and not code):
        return ModelNotFoundError(f"{what}: not found")
    if exc.code >= 500 or exc.code in (408, 429):
        return RegistryUnavailableError(f"{what}: the MLflow server answered {exc.code}")
    first = message.splitlines()[0] if message else f"HTTP {exc.code}"
    return RegistryError(f"{what}: {first}")


def lean_reader(tracking_uri: str, model_name: str) -> ModelReader:
    """The reader for a tracking URI: REST for http(s), sqlite3 for `sqlite:///`, else (a
    PostgreSQL store, a file store...) MLflow's own client."""
    scheme = urllib.parse.urlparse(tracking_uri).scheme
    if scheme in ("http", "https"):
        return RestModelReader(tracking_uri, model_name)
    if tracking_uri.startswith("sqlite:///"):
        return SqliteModelReader(tracking_uri, model_name)
    from sentiment.adapters.mlflow_registry import MlflowModelRegistry

    return MlflowModelRegistry(tracking_uri=tracking_uri, model_name=model_name)
