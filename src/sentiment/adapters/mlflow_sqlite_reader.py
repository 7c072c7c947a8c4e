"""`SqliteModelReader`: a `sqlite:///` MLflow store read with the standard library's sqlite3,
read-only, on MLflow's own tables, as MLflow's SQLAlchemy store reads them (see `mlflow_reader`)."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment.adapters.mlflow_reader import (
    FoundVersion,
    LeanReader,
    UnsupportedStoreError,
    local_file,
    local_path,
)
from sentiment.domain.errors import (
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
)
from sentiment.domain.model import READY, ModelVersion

DELETED_STAGE = "Deleted_Internal"  # MLflow's mark of a deleted model version
DEFAULT_WORKSPACE = "default"
# MLflow schema revisions (alembic_version) this reader was tested on; others are read if the
# columns it needs are there (see `SqliteModelReader`).
TESTED_SCHEMAS = frozenset({"dc11669786a5"})
_REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "model_versions": frozenset(
        {"name", "version", "creation_time", "current_stage", "source", "run_id", "status"}
    ),
    "model_version_tags": frozenset({"key", "value", "name", "version"}),
    "registered_model_aliases": frozenset({"alias", "version", "name"}),
    "runs": frozenset({"run_uuid", "status"}),
    "latest_metrics": frozenset({"key", "value", "is_nan", "run_uuid"}),
}


class SqliteModelReader(LeanReader):
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

    def _version(self, number: str) -> FoundVersion:
        with self._session() as session:
            found = session.version(number) if session else None
        if found is None:
            raise ModelNotFoundError(f"{self._model_name} version {number}: not found")
        return found

    def _alias(self, alias: str) -> FoundVersion:
        with self._session() as session:
            found = session.alias(alias) if session else None
        if found is None:
            raise ModelNotFoundError(f"{self._model_name}@{alias}: not found")
        return found

    def list_versions(self) -> list[ModelVersion]:
        with self._session() as session:
            return session.versions() if session else []

    def _download_uri(self, found: FoundVersion) -> str:
        return found.artifact_uri

    def _fetch(self, artifact_uri: str, name: str, destination: Path) -> Path | None:
        folder = local_path(artifact_uri)
        if folder is None:
            raise UnsupportedStoreError(artifact_uri)
        return local_file(folder, name)


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
            f"SELECT version, creation_time, run_id, source, {self._location}, status "  # noqa: S608
            "FROM model_versions WHERE name = ? AND (current_stage IS NULL OR current_stage != ?)"
            f"{self._workspace}{one} ORDER BY version",
            *(params if number is None else (*params, int(number))),
        )

    def version(self, number: str) -> FoundVersion | None:
        rows = self._version_rows(number)
        return self._build(rows[0]) if rows else None

    def alias(self, alias: str) -> FoundVersion | None:
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

    def _build(self, row: tuple[Any, ...], aliases: tuple[str, ...] | None = None) -> FoundVersion:
        version, created_ms, run_id, source, storage, registry_status = row
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
            status=str(registry_status or READY),
        )
        # As MLflow's SQL store answers get-download-uri: the storage location, else the source.
        return FoundVersion(info, str(storage or source or ""))

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
