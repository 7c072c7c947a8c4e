"""Read-only access to an MLflow model registry without importing MLflow: the API's read path.

`MlflowModelRegistry` imports the MLflow client, and with it SQLAlchemy, pandas and more: seconds
of start-up and a hundred MB of memory in every API worker, only to resolve an alias and fetch a
file. The readers here implement `ModelReader` (what `LoadModel` needs) with the standard library:

- `RestModelReader` (`mlflow_rest_reader`), for an `http(s)://` tracking URI: MLflow's REST API
  (`registered-models/alias`, `model-versions/get`, `model-versions/search`,
  `registered-models/get`, `runs/get`, `model-versions/get-download-uri`) and the artifact proxy
  (`mlflow-artifacts`), with urllib. `MLFLOW_TRACKING_TOKEN` or `MLFLOW_TRACKING_USERNAME`/
  `MLFLOW_TRACKING_PASSWORD` authenticate as they do for MLflow's client.
- `SqliteModelReader` (`mlflow_sqlite_reader`), for a `sqlite:///` store: the stdlib sqlite3,
  read-only, on MLflow's own tables (`model_versions`, `model_version_tags`,
  `registered_model_aliases`, `runs`, `latest_metrics`) as MLflow's SQLAlchemy store reads them.
  The columns it needs are checked on first use; `tests/integration/registry/test_lean_reader.py`
  pins the schema versions tested.

Both load a version from the pickle-free `serving.npz` next to its MLflow model when it has one
(numpy only, `HashedLinearClassifier`); otherwise (another model type, an older version) from its
`model.skops`, as `MlflowModelRegistry` does. Artifacts stored elsewhere (`s3://`...) are loaded
through `MlflowModelRegistry`. Every failure is a domain error: ModelNotFoundError,
RegistryUnavailableError, ModelLoadError, RegistryError.

This module holds what both share and `lean_reader`, which picks one for a tracking URI.
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sentiment.adapters.hashed_linear import FILE_NAME as SERVING_FILE
from sentiment.adapters.hashed_linear_classifier import HashedLinearClassifier
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
)
from sentiment.domain.model import ModelVersion
from sentiment.domain.model_ref import canonical_version, check_alias
from sentiment.domain.ports import Classifier, ModelReader

SKOPS_FILE = "model.skops"


@dataclass(frozen=True, slots=True)
class FoundVersion:
    """What a lookup returns: the domain view, and where the version's files are."""

    info: ModelVersion
    artifact_uri: str


class LeanReader(ModelReader):
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

    def _version(self, number: str) -> FoundVersion:
        raise NotImplementedError

    def _alias(self, alias: str) -> FoundVersion:
        raise NotImplementedError

    def _download_uri(self, found: FoundVersion) -> str:
        """Where the version's files are (what MLflow's get-download-uri answers)."""
        raise NotImplementedError

    def _fetch(self, artifact_uri: str, name: str, destination: Path) -> Path | None:
        """The artifact `name` under `artifact_uri` as a local file (downloaded into
        `destination` unless the store is a local folder); None when the store has no such
        file. Raises UnsupportedStoreError for a store it cannot read."""
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
        if not location:  # not "": a relative path, the working directory
            raise ModelLoadError(f"{uri}: the registry records no location of its artifacts")
        with tempfile.TemporaryDirectory(prefix=f"sentiment-model-{number}-") as tmp:
            destination = Path(tmp)
            try:
                serving = self._fetch(location, SERVING_FILE, destination)
                if serving is not None:
                    return HashedLinearClassifier.from_file(serving)
                skops = self._fetch(location, SKOPS_FILE, destination)
            except UnsupportedStoreError:
                return self._load_with_mlflow(number)
            if skops is None:
                raise ModelLoadError(
                    f"{uri}: the model's artifacts are missing from the artifact store "
                    f"(no {SERVING_FILE} nor {SKOPS_FILE} under {location})"
                )
            return skops_classifier(skops, found.info, uri)

    def _load_with_mlflow(self, number: str) -> Classifier:
        """Artifacts in a store only MLflow's client reads (s3, gcs, ...)."""
        from sentiment.adapters.mlflow_registry import MlflowModelRegistry

        registry = MlflowModelRegistry(tracking_uri=self._tracking_uri, model_name=self._model_name)
        return registry.load(number)


class UnsupportedStoreError(Exception):
    """An artifact location this reader does not read itself."""


def skops_classifier(path: Path, info: ModelVersion, uri: str) -> Classifier:
    """The fallback: a SklearnClassifier from the version's skops file (imports scikit-learn)."""
    from sentiment.adapters import skops_format
    from sentiment.adapters.sklearn_classifier import SklearnClassifier

    pipeline = skops_format.load(path)
    try:
        return SklearnClassifier.from_pipeline(pipeline, info.tags.get("model_type") or None)
    except Exception as exc:
        raise ModelLoadError(f"{uri}: {exc}") from exc


def local_path(artifact_uri: str) -> Path | None:
    """The folder of a `file:` URI or a plain path; None for any other scheme."""
    parsed = urllib.parse.urlparse(artifact_uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(artifact_uri)
    return None


def local_file(folder: Path, name: str) -> Path | None:
    """A file of a local artifact folder, read where it is (nothing to download)."""
    source = folder / name
    return source if source.is_file() else None


# -- SQLite ------------------------------------------------------------------------------------


def lean_reader(tracking_uri: str, model_name: str) -> ModelReader:
    """The reader for a tracking URI: REST for http(s), sqlite3 for `sqlite:///`, else (a
    PostgreSQL store, a file store...) MLflow's own client."""
    scheme = urllib.parse.urlparse(tracking_uri).scheme
    if scheme in ("http", "https"):
        from sentiment.adapters.mlflow_rest_reader import RestModelReader

        return RestModelReader(tracking_uri, model_name)
    if tracking_uri.startswith("sqlite:///"):
        from sentiment.adapters.mlflow_sqlite_reader import SqliteModelReader

        return SqliteModelReader(tracking_uri, model_name)
    from sentiment.adapters.mlflow_registry import MlflowModelRegistry

    return MlflowModelRegistry(tracking_uri=tracking_uri, model_name=model_name)
