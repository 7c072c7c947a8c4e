"""MlflowModelRegistry: the ModelRegistry port on an MLflow tracking server and model registry.

A training run (`start_run`) is an `mlflow_run.MlflowRun`; the client and what makes opening it
fail are `mlflow_connection`'s. Loading a version reads its `model.skops` with the project's own
list of trusted types: the serving path never unpickles.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentiment.adapters import skops_format
from sentiment.adapters.mlflow_connection import (
    file_lock,
    is_local_store,
    open_client,
    process_uris,
    translate,
)
from sentiment.adapters.mlflow_run import MlflowRun
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
)
from sentiment.domain.model import READY, ModelVersion
from sentiment.domain.model_ref import canonical_version, check_alias, check_tag
from sentiment.domain.ports import Classifier, ModelRegistry, TrainingRun

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
DEFAULT_ARTIFACT_ROOT = "mlruns/artifacts"

# Loading a version in a server or a CLI is not worth a progress bar per download.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class MlflowModelRegistry(ModelRegistry):
    """One registered model in one experiment of an MLflow tracking server.

    `tracking_uri` defaults to a SQLite store at `mlruns/mlflow.db` with artifacts under
    `mlruns/artifacts`; an `http(s)://` URI points it at a remote server unchanged.
    """

    def __init__(
        self,
        tracking_uri: str = DEFAULT_TRACKING_URI,
        experiment_name: str = "sentiment-analysis",
        model_name: str = "SentimentAnalysisModel",
        artifact_root: str = DEFAULT_ARTIFACT_ROOT,
        cache_dir: str | Path | None = None,
        lock_timeout_s: float = 30.0,
        create_store: bool = True,
    ) -> None:
        self._tracking_uri = tracking_uri
        self._experiment_name = experiment_name
        self._model_name = model_name
        self._artifact_root = artifact_root
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None
        self._process_lock = threading.Lock()
        self._lock_timeout_s = lock_timeout_s
        self._create_store = create_store

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = open_client(self._tracking_uri, self._create_store)
        return self._client

    def _experiment(self) -> str:
        if self._experiment_id is None:
            client = self.client
            found = translate(
                "find experiment", lambda: client.get_experiment_by_name(self._experiment_name)
            )
            if found is not None:
                self._experiment_id = found.experiment_id
            else:
                location = None
                if is_local_store(self._tracking_uri):
                    location = Path(self._artifact_root).resolve().as_uri()
                self._experiment_id = translate(
                    "create experiment",
                    lambda: client.create_experiment(
                        self._experiment_name, artifact_location=location
                    ),
                )
        return self._experiment_id

    @contextmanager
    def start_run(self, run_name: str | None = None) -> Iterator[TrainingRun]:
        import mlflow

        experiment_id = self._experiment()
        with process_uris(self._tracking_uri):
            run = translate(
                "start run",
                lambda: mlflow.start_run(experiment_id=experiment_id, run_name=run_name),
            )
            try:
                yield MlflowRun(self, run.info.run_id)
            except BaseException:
                # The original error matters more than a failure to record it.
                with contextlib.suppress(Exception):
                    mlflow.end_run("FAILED")
                raise
            translate("finish run", lambda: mlflow.end_run("FINISHED"))

    def _to_domain(
        self, mv: MlflowModelVersion, aliases: tuple[str, ...] | None = None
    ) -> ModelVersion:
        metrics: dict[str, float] = {}
        status = ""
        run_id = mv.run_id
        if run_id:
            try:
                run = translate(f"run {run_id}", lambda: self.client.get_run(run_id))
            except ModelNotFoundError:  # a deleted run leaves the version usable
                pass
            else:
                metrics = dict(run.data.metrics)
                status = str(run.info.status)
        # A tag's value may be NULL in a SQL store (MLflow's schema allows it): "", as MLflow's
        # server answers it and the lean readers read it.
        tags = {key: "" if value is None else value for key, value in (mv.tags or {}).items()}
        return ModelVersion(
            name=mv.name,
            version=str(mv.version),
            run_id=mv.run_id or "",
            aliases=aliases if aliases is not None else tuple(sorted(mv.aliases or ())),
            tags=tags,
            metrics=metrics,
            dataset_digest=tags.get("dataset_digest", ""),
            created_at=(mv.creation_timestamp or 0) / 1000.0,
            run_status=status,
            status=str(mv.status or READY),
        )

    def get_version(self, version: str) -> ModelVersion:
        number = canonical_version(version)
        if number is None:
            raise ModelNotFoundError(f"{self._model_name} has no version {version!r}")
        mv = translate(
            f"{self._model_name} version {number}",
            lambda: self.client.get_model_version(self._model_name, number),
        )
        return self._to_domain(mv)

    def get_by_alias(self, alias: str) -> ModelVersion:
        check_alias(alias)
        mv = translate(
            f"{self._model_name}@{alias}",
            lambda: self.client.get_model_version_by_alias(self._model_name, alias),
        )
        return self._to_domain(mv)

    def list_versions(self) -> list[ModelVersion]:
        client = self.client
        try:
            found = translate(
                f"versions of {self._model_name}",
                lambda: client.search_model_versions(f"name = '{self._model_name}'"),
            )
        except ModelNotFoundError:
            return []
        if not found:
            return []
        # search_model_versions leaves `aliases` empty: read them from the registered model.
        registered = translate(
            f"aliases of {self._model_name}",
            lambda: self.client.get_registered_model(self._model_name),
        )
        by_version: dict[str, list[str]] = {}
        for alias, number in (registered.aliases or {}).items():
            by_version.setdefault(str(number), []).append(alias)
        return sorted(
            (
                self._to_domain(mv, tuple(sorted(by_version.get(str(mv.version), ()))))
                for mv in found
            ),
            key=lambda v: int(v.version),
        )

    def latest_version(self) -> ModelVersion:
        versions = self.list_versions()
        if not versions:
            raise ModelNotFoundError(f"{self._model_name} has no registered version")
        return versions[-1]

    def set_alias(self, alias: str, version: str) -> None:
        check_alias(alias)
        number = self.get_version(version).version
        translate(
            f"set @{alias}",
            lambda: self.client.set_registered_model_alias(self._model_name, alias, number),
        )

    def alias_lock(self) -> AbstractContextManager[object]:
        """For a `sqlite:///` store, a lock file beside the database, shared by every process
        on this machine; for a server, a lock of this process only (MLflow has none)."""
        if self._tracking_uri.startswith("sqlite:///"):
            db = Path(self._tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
            return file_lock(db.with_name(db.name + ".alias-lock"), self._lock_timeout_s)
        return self._process_lock

    def delete_alias(self, alias: str) -> None:
        check_alias(alias)
        self.get_by_alias(alias)
        translate(
            f"delete @{alias}",
            lambda: self.client.delete_registered_model_alias(self._model_name, alias),
        )

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            check_tag(key, value)
        number = self.get_version(version).version
        for key, value in tags.items():
            translate(
                f"tag version {number}",
                lambda k=key, v=value: self.client.set_model_version_tag(  # type: ignore[misc]
                    self._model_name, number, k, v
                ),
            )

    def load(self, version: str) -> Classifier:
        found = self.get_version(version)
        if self._cache_dir is not None:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
        # The files are read into memory, then the download goes away.
        with tempfile.TemporaryDirectory(
            prefix=f"sentiment-model-{found.version}-", dir=self._cache_dir
        ) as destination:
            local = self._download(found.version, destination)
            model_file = local / "model.skops"
            if not local.is_dir() or not any(local.iterdir()):
                raise ModelLoadError(
                    f"models:/{self._model_name}/{found.version}: the model's artifacts are "
                    "missing from the artifact store"
                )
            if not model_file.is_file():
                raise ModelLoadError(
                    f"{self._model_name} version {found.version} has no model.skops "
                    "(was it saved by this project?)"
                )
            pipeline = skops_format.load(model_file)
            meta = _read_metadata(local)
        recorded = meta.get("model_type")
        try:
            return SklearnClassifier.from_pipeline(pipeline, str(recorded) if recorded else None)
        except Exception as exc:
            raise ModelLoadError(f"{self._model_name} version {found.version}: {exc}") from exc

    def _download(self, version: str, destination: str) -> Path:
        import mlflow.artifacts

        uri = f"models:/{self._model_name}/{version}"

        def download() -> str:
            # Not `download_artifacts("models:/...")`: it resolves the version against MLflow's
            # process-wide registry URI (by default a `mlflow.db` in the working directory),
            # whatever registry_uri it is given. Ask our own client where the files are.
            location = self.client.get_model_version_download_uri(self._model_name, version)
            return str(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=location,
                    dst_path=destination,
                    tracking_uri=self._tracking_uri,
                )
            )

        try:
            return Path(translate(f"download {uri}", download))
        except ImportError as exc:  # MLflow reads s3://, gs://... with optional packages
            raise ModelLoadError(
                f"{uri}: its artifact store needs the package {exc.name or exc}, not installed"
            ) from exc
        except ModelNotFoundError as exc:
            raise ModelLoadError(f"{uri}: the model's artifacts are missing") from exc
        except RegistryUnavailableError:
            raise
        except RegistryError as exc:
            raise ModelLoadError(f"{uri}: {exc}") from exc


def _read_metadata(local: Path) -> dict[str, Any]:
    mlmodel = local / "MLmodel"
    if not mlmodel.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(mlmodel.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    metadata = data.get("metadata") if isinstance(data, dict) else None
    return metadata if isinstance(metadata, dict) else {}
