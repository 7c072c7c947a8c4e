"""A training run on MLflow (`MlflowModelRegistry.start_run`): its params, metrics, dataset (with
its digest) and artifacts: the model in the MLflow sklearn flavor (skops format, with a 1-D string
signature and an input example, so `mlflow models serve` can serve it) and the pickle-free serving
file beside it, the vectorizer, the metrics JSON and the confusion matrix (JSON and PNG); then the
model registered as a new version.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sentiment.adapters import skops_format
from sentiment.adapters.mlflow_connection import translate
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import RegistryError
from sentiment.domain.metrics import EvaluationMetrics
from sentiment.domain.model import DatasetInfo, ModelVersion, ParamValue
from sentiment.domain.model_ref import check_tag
from sentiment.domain.ports import Classifier, TrainingRun

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sentiment.adapters.mlflow_registry import MlflowModelRegistry

MODEL_ARTIFACT = "model"
T = TypeVar("T")


class MlflowRun(TrainingRun):
    """One MLflow run of a training, opened by `MlflowModelRegistry.start_run`."""

    def __init__(self, registry: MlflowModelRegistry, run_id: str) -> None:
        self._registry = registry
        self._run_id = run_id
        self._dataset: DatasetInfo | None = None

    @property
    def run_id(self) -> str:
        return self._run_id

    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        translate("log params", lambda: self._registry.client.log_batch(self._run_id, params=items))

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
        translate(
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
        translate("tag run", lambda: self._registry.client.log_batch(self._run_id, tags=items))

    def log_evaluation(self, metrics: EvaluationMetrics, prefix: str = "") -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        flat = {prefix + k: v for k, v in metrics.flat().items()}
        translate(
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
        return _log_and_register(self._registry, self._run_id, classifier, self._dataset)


def _log_and_register(
    registry: MlflowModelRegistry,
    run_id: str,
    classifier: SklearnClassifier,
    dataset: DatasetInfo | None,
) -> ModelVersion:
    """Log the classifier into the run `run_id` and register it as a new version."""
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
            registry.client.log_artifact(run_id, str(path), "vectorizer")
        _log_serving_artifact(registry.client, info.model_id, classifier)
        return info

    info = translate("log model", log)
    tags = {"model_type": classifier.model_type}
    if dataset is not None:
        tags["dataset_digest"] = dataset.digest
    version = translate(
        "register model",
        lambda: _without_chatter(
            lambda: mlflow.register_model(info.model_uri, registry.model_name, tags=tags)
        ),
    )
    return registry.get_version(str(version.version))


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
