"""EvaluateModel: score a registered version on labelled data; optionally log it as a run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sentiment.application.progress import ProgressObserver, SilentProgress, stage
from sentiment.application.registry_ops import resolve, score
from sentiment.domain.errors import DatasetError
from sentiment.domain.metrics import EvaluationMetrics
from sentiment.domain.model import LabelledDataset
from sentiment.domain.model_ref import ModelRef
from sentiment.domain.ports import DatasetSource, ModelRegistry
from sentiment.domain.promotion import iso

RUN_KIND = "evaluation"


@dataclass(frozen=True, slots=True)
class EvaluateModelCommand:
    ref: ModelRef
    log: bool = False
    """Log an evaluation run linked to the version (run tagged with the version, version
    tagged with the run)."""
    run_name: str | None = None


@dataclass(frozen=True, slots=True)
class EvaluateModelResult:
    model_name: str
    model_version: str
    aliases: tuple[str, ...]
    training_run_id: str
    evaluation: EvaluationMetrics
    rows: int
    dropped_rows: int
    dataset_name: str
    dataset_digest: str
    evaluation_run_id: str | None
    duration_s: float


class EvaluateModel:
    """Load a version, predict every row of a labelled dataset, score it.

    Refused before any run is opened: a reference to no version (ModelNotFoundError), before
    the data is read; data that cannot be read or has no usable row (DatasetError), before the
    model is loaded; labels the model does not know (DatasetError: a CSV labelled 0/1 against a
    model trained on negative/positive).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        dataset_source: DatasetSource,
        progress: ProgressObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._source = dataset_source
        self._progress = progress or SilentProgress()
        self._clock = clock

    def execute(self, command: EvaluateModelCommand) -> EvaluateModelResult:
        started = time.perf_counter()
        registry = self._registry
        # Cheapest refusals first: the reference, then the data, then loading the model.
        version = resolve(registry, command.ref)
        with stage(self._progress, "data") as note:
            data = self._source.load()
            note(f"{len(data)} rows, {data.dropped} dropped, classes {data.class_counts()}")
        if len(data) == 0:
            raise DatasetError(f"{data.name}: no row with both a text and a label to evaluate on")
        with stage(self._progress, "model") as note:
            classifier = registry.load(version.version)
            note(f"{version.name} version {version.version}")
        unknown = sorted(set(data.labels) - set(classifier.classes))
        if unknown:
            known = ", ".join(map(repr, classifier.classes))
            raise DatasetError(
                f"{data.name}: label(s) {', '.join(map(repr, unknown))} are unknown to "
                f"version {version.version}, which predicts {known}"
            )
        with stage(self._progress, "predict") as note:
            metrics = score(classifier, data, classifier.classes)
            note(f"accuracy {metrics.accuracy:.4f}, macro-F1 {metrics.macro_f1:.4f}")

        run_id: str | None = None
        if command.log:
            with stage(self._progress, "log") as note:
                run_id = self._log(command, version.version, version.run_id, data, metrics)
                note(f"run {run_id}")
        return EvaluateModelResult(
            model_name=version.name,
            model_version=version.version,
            aliases=version.aliases,
            training_run_id=version.run_id,
            evaluation=metrics,
            rows=len(data),
            dropped_rows=data.dropped,
            dataset_name=data.name,
            dataset_digest=data.digest,
            evaluation_run_id=run_id,
            duration_s=time.perf_counter() - started,
        )

    def _log(
        self,
        command: EvaluateModelCommand,
        version: str,
        training_run_id: str,
        data: LabelledDataset,
        metrics: EvaluationMetrics,
    ) -> str:
        registry = self._registry
        name = command.run_name or f"evaluate-v{version}-{data.name}"
        with registry.start_run(name) as run:
            run.set_tags(
                {
                    "sentiment.run_kind": RUN_KIND,
                    "sentiment.model_name": registry.model_name,
                    "sentiment.model_version": version,
                    "sentiment.model_ref": str(command.ref),
                    "sentiment.training_run_id": training_run_id,
                }
            )
            run.log_params(
                {"model_name": registry.model_name, "model_version": version, "rows": len(data)}
            )
            run.log_dataset(data.info(), context="evaluation")
            run.log_evaluation(metrics)
            run_id = run.run_id
        # The version points at its latest finished evaluation run.
        registry.set_tags(
            version,
            {
                "evaluation.run_id": run_id,
                "evaluation.at": iso(self._clock()),
                "evaluation.data": f"{data.name} ({len(data)} rows, digest {data.digest})",
                "evaluation.f1_macro": repr(metrics.macro_f1),
                "evaluation.accuracy": repr(metrics.accuracy),
            },
        )
        return run_id
