"""MlflowModelRegistry: the ModelRegistry port on an MLflow tracking server and model registry.

Each training run logs its params, metrics, dataset (with its digest) and artifacts: the model in
the MLflow sklearn flavor (skops format, with a 1-D string signature and an input example, so
`mlflow models serve` can serve it), the vectorizer, the metrics JSON and the confusion matrix
(JSON and PNG). Loading a version reads its `model.skops` with the project's own list of
trusted types: the serving path never unpickles.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sentiment.adapters import skops_format
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    RegistryError,
    RegistryInputError,
    RegistryUnavailableError,
)
from sentiment.domain.metrics import EvaluationMetrics
from sentiment.domain.model import READY, DatasetInfo, ModelVersion, ParamValue
from sentiment.domain.model_ref import canonical_version, check_alias, check_tag
from sentiment.domain.ports import Classifier, ModelRegistry, TrainingRun

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
DEFAULT_ARTIFACT_ROOT = "mlruns/artifacts"
MODEL_ARTIFACT = "model"
T = TypeVar("T")

# Fail fast when a remote server is away (the MLflow defaults retry for minutes); the API retries
# in the background instead. Set these variables yourself to override.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
# Loading a version in a server or a CLI is not worth a progress bar per download.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def _process_uris(uri: str) -> Iterator[None]:
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


def _translate(what: str, call: Callable[[], T]) -> T:
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


def _open_client(uri: str, create_store: bool = True) -> MlflowClient:
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
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise RegistryInputError(f"the {scheme} tracking URI is malformed") from exc
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
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
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


def _is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


class _MlflowRun(TrainingRun):
    def __init__(self, registry: MlflowModelRegistry, run_id: str) -> None:
        self._registry = registry
        self._run_id = run_id
        self._dataset: DatasetInfo | None = None
        self._metrics: dict[str, float] = {}

    @property
    def run_id(self) -> str:
        return self._run_id

    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        _translate(
            "log params", lambda: self._registry.client.log_batch(self._run_id, params=items)
        )

    def log_dataset(self, info: DatasetInfo, context: str = "training") -> None:
        import mlflow
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import InputTag

        # The data a model was trained on names the run and the version (`dataset_digest`);
        # other data (a training run's separate evaluation data) is recorded beside it.
        primary = context == "training" or self._dataset is None
        if primary:
            self._dataset = info
        dataset = MetaDataset(  # type: ignore[abstract]
            source=_dataset_source(info.source), name=info.name, digest=info.digest
        )
        tags = [InputTag("mlflow.data.context", context)]
        client = self._registry.client
        _translate(
            "log dataset",
            lambda: client.log_inputs(
                self._run_id,
                datasets=[mlflow.entities.DatasetInput(dataset._to_mlflow_entity(), tags)],
            ),
        )
        summary = {
            "name": info.name,
            "source": info.source,
            "digest": info.digest,
            "rows": info.rows,
            "dropped": info.dropped,
            "class_counts": dict(info.class_counts),
            "context": context,
        }

        if primary:
            client.set_tag(self._run_id, "dataset_digest", info.digest)
            client.log_dict(self._run_id, summary, "dataset/dataset.json")
        else:
            client.set_tag(self._run_id, f"{context}_dataset_digest", info.digest)
            client.log_dict(self._run_id, summary, f"dataset/{context}.json")

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        for key, value in tags.items():
            check_tag(key, value)
        items = [RunTag(k, v) for k, v in tags.items()]
        _translate("tag run", lambda: self._registry.client.log_batch(self._run_id, tags=items))

    def log_evaluation(self, metrics: EvaluationMetrics, prefix: str = "") -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        flat = {prefix + k: v for k, v in metrics.flat().items()}
        self._metrics.update(flat)
        _translate(
            "log metrics",
            lambda: self._registry.client.log_batch(
                self._run_id, metrics=[Metric(k, v, now, 0) for k, v in flat.items()]
            ),
        )
        client = self._registry.client
        client.log_dict(self._run_id, metrics.to_dict(), f"metrics/{prefix}metrics.json")
        client.log_dict(
            self._run_id,
            {"labels": list(metrics.labels), "matrix": [list(r) for r in metrics.confusion_matrix]},
            f"metrics/{prefix}confusion_matrix.json",
        )
        client.log_figure(
            self._run_id, _confusion_figure(metrics), f"metrics/{prefix}confusion_matrix.png"
        )

    def register(self, classifier: Classifier) -> ModelVersion:
        if not isinstance(classifier, SklearnClassifier):
            raise RegistryError(
                "the MLflow registry stores scikit-learn classifiers, "
                f"not {type(classifier).__name__}"
            )
        return self._registry._log_and_register(self._run_id, classifier, self._dataset)


# What `mlflow.register_model` prints on stderr every time: the training CLI reports the version
# itself, and these lines broke its progress line and `--quiet`.
_CHATTER = re.compile(
    r"(Successfully registered model '.*'\.|Registered model '.*' already exists\. Creating a new"
    r" version of this model\.\.\.|Created version '\d+' of model '.*'\.)"
)


def _without_chatter(call: Callable[[], T]) -> T:
    """`call()` with MLflow's routine lines on stderr dropped; anything else it prints there
    (a warning) is passed on once it returns or fails."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            return call()
    finally:
        kept = [line for line in printed.getvalue().splitlines() if not _CHATTER.fullmatch(line)]
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("scikit-learn", "skops", "numpy", "scipy")]


def _dataset_source(source: str) -> Any:
    if source.startswith(("http://", "https://")):
        from mlflow.data.http_dataset_source import HTTPDatasetSource

        return HTTPDatasetSource(source)  # type: ignore[no-untyped-call]
    from mlflow.data.sources import (  # type: ignore[attr-defined]
        LocalArtifactDatasetSource,
    )

    return LocalArtifactDatasetSource(source)


def _confusion_figure(metrics: EvaluationMetrics) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(metrics.labels)
    matrix = [list(r) for r in metrics.confusion_matrix]
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(labels), 1.2 + 1.2 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max(max(r) for r in matrix) if matrix else 0
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                color="white" if count > peak / 2 else "black",
            )
    ax.set_title(f"accuracy {metrics.accuracy:.3f}, macro-F1 {metrics.macro_f1:.3f}")
    fig.tight_layout()
    plt.close(fig)
    return fig


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
            self._client = _open_client(self._tracking_uri, self._create_store)
        return self._client

    def _experiment(self) -> str:
        if self._experiment_id is None:
            client = self.client
            found = _translate(
                "find experiment", lambda: client.get_experiment_by_name(self._experiment_name)
            )
            if found is not None:
                self._experiment_id = found.experiment_id
            else:
                location = None
                if _is_local_store(self._tracking_uri):
                    location = Path(self._artifact_root).resolve().as_uri()
                self._experiment_id = _translate(
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
        with _process_uris(self._tracking_uri):
            run = _translate(
                "start run",
                lambda: mlflow.start_run(experiment_id=experiment_id, run_name=run_name),
            )
            try:
                yield _MlflowRun(self, run.info.run_id)
            except BaseException:
                # The original error matters more than a failure to record it.
                with contextlib.suppress(Exception):
                    mlflow.end_run("FAILED")
                raise
            _translate("finish run", lambda: mlflow.end_run("FINISHED"))

    def _log_and_register(
        self, run_id: str, classifier: SklearnClassifier, dataset: DatasetInfo | None
    ) -> ModelVersion:
        import mlflow
        import mlflow.sklearn
        import numpy as np
        from mlflow.models import infer_signature

        pipeline = classifier.pipeline
        example = np.array(
            ["A wonderful film, I loved every minute!", "Dull, predictable and far too long."]
        )
        signature = infer_signature(example, pipeline.predict(example))

        def log() -> Any:
            info = mlflow.sklearn.log_model(
                pipeline,
                name=MODEL_ARTIFACT,
                serialization_format="skops",
                skops_trusted_types=list(skops_format.TRUSTED_TYPES),
                signature=signature,
                input_example=example,
                metadata={"model_type": classifier.model_type},
                # Listing the requirements skips MLflow's slow import-tracing subprocess.
                pip_requirements=_pip_requirements(),
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "vectorizer.skops"
                skops_format.dump(classifier.vectorizer, path)
                self.client.log_artifact(run_id, str(path), "vectorizer")
            _log_serving_artifact(self.client, info.model_id, classifier)
            return info

        info = _translate("log model", log)
        tags = {"model_type": classifier.model_type}
        if dataset is not None:
            tags["dataset_digest"] = dataset.digest
        version = _translate(
            "register model",
            lambda: _without_chatter(
                lambda: mlflow.register_model(info.model_uri, self._model_name, tags=tags)
            ),
        )
        return self.get_version(str(version.version))

    def _to_domain(
        self, mv: MlflowModelVersion, aliases: tuple[str, ...] | None = None
    ) -> ModelVersion:
        metrics: dict[str, float] = {}
        status = ""
        run_id = mv.run_id
        if run_id:
            try:
                run = _translate(f"run {run_id}", lambda: self.client.get_run(run_id))
            except ModelNotFoundError:  # a deleted run leaves the version usable
                pass
            else:
                metrics = dict(run.data.metrics)
                status = str(run.info.status)
        return ModelVersion(
            name=mv.name,
            version=str(mv.version),
            run_id=mv.run_id or "",
            aliases=aliases if aliases is not None else tuple(sorted(mv.aliases or ())),
            tags=dict(mv.tags or {}),
            metrics=metrics,
            dataset_digest=(mv.tags or {}).get("dataset_digest", ""),
            created_at=(mv.creation_timestamp or 0) / 1000.0,
            run_status=status,
            status=str(mv.status or READY),
        )

    def get_version(self, version: str) -> ModelVersion:
        number = canonical_version(version)
        if number is None:
            raise ModelNotFoundError(f"{self._model_name} has no version {version!r}")
        mv = _translate(
            f"{self._model_name} version {number}",
            lambda: self.client.get_model_version(self._model_name, number),
        )
        return self._to_domain(mv)

    def get_by_alias(self, alias: str) -> ModelVersion:
        check_alias(alias)
        mv = _translate(
            f"{self._model_name}@{alias}",
            lambda: self.client.get_model_version_by_alias(self._model_name, alias),
        )
        return self._to_domain(mv)

    def list_versions(self) -> list[ModelVersion]:
        client = self.client
        try:
            found = _translate(
                f"versions of {self._model_name}",
                lambda: client.search_model_versions(f"name = '{self._model_name}'"),
            )
        except ModelNotFoundError:
            return []
        if not found:
            return []
        # search_model_versions leaves `aliases` empty: read them from the registered model.
        registered = _translate(
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
        _translate(
            f"set @{alias}",
            lambda: self.client.set_registered_model_alias(self._model_name, alias, number),
        )

    def alias_lock(self) -> AbstractContextManager[object]:
        """For a `sqlite:///` store, a lock file beside the database, shared by every process
        on this machine; for a server, a lock of this process only (MLflow has none)."""
        if self._tracking_uri.startswith("sqlite:///"):
            db = Path(self._tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
            return _file_lock(db.with_name(db.name + ".alias-lock"), self._lock_timeout_s)
        return self._process_lock

    def delete_alias(self, alias: str) -> None:
        check_alias(alias)
        self.get_by_alias(alias)
        _translate(
            f"delete @{alias}",
            lambda: self.client.delete_registered_model_alias(self._model_name, alias),
        )

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            check_tag(key, value)
        number = self.get_version(version).version
        for key, value in tags.items():
            _translate(
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
        model_type = str(meta.get("model_type", "nblr"))
        try:
            return SklearnClassifier(model_type, pipeline=pipeline)
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
            return Path(_translate(f"download {uri}", download))
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


def _log_serving_artifact(
    client: MlflowClient, model_id: str, classifier: SklearnClassifier
) -> None:
    """Put the pickle-free serving file (`serving.npz`, see `hashed_linear`) into the logged
    model's folder, beside `model.skops`, when the pipeline has that form. MLflow ignores it;
    the API's lean reader loads it with numpy alone."""
    from sentiment.adapters.hashed_linear import FILE_NAME
    from sentiment.adapters.serving_export import hashed_linear_model

    model = hashed_linear_model(classifier)
    if model is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / FILE_NAME)
        client.log_model_artifacts(model_id, tmp)


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
