"""InMemoryModelRegistry: the ModelRegistry port held in process memory.

A real adapter with the same semantics as the MLflow one (versions "1", "2"..., aliases, tags,
runs marked FINISHED or FAILED), used by tests and by `SENTIMENT_REGISTRY=memory`.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from sentiment.domain.errors import ModelNotFoundError, RegistryError
from sentiment.domain.metrics import EvaluationMetrics
from sentiment.domain.model import DatasetInfo, ModelVersion, ParamValue
from sentiment.domain.ports import Classifier, ModelRegistry, TrainingRun

_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def check_alias(alias: str) -> None:
    """Aliases are identifiers, and never look like a version number ("v3", "3")."""
    if not _ALIAS.match(alias) or re.fullmatch(r"[vV]\d+", alias):
        raise RegistryError(f"invalid alias {alias!r}")


@dataclass
class RunRecord:
    """What one run logged, kept for inspection."""

    run_id: str
    name: str | None
    status: str = "RUNNING"
    params: dict[str, ParamValue] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    datasets: list[DatasetInfo] = field(default_factory=list)
    evaluation: EvaluationMetrics | None = None
    registered_version: str | None = None


class _MemoryRun(TrainingRun):
    def __init__(self, registry: InMemoryModelRegistry, record: RunRecord) -> None:
        self._registry = registry
        self.record = record

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        self.record.params.update(params)

    def log_dataset(self, info: DatasetInfo) -> None:
        self.record.datasets.append(info)

    def log_evaluation(self, metrics: EvaluationMetrics, prefix: str = "") -> None:
        self.record.evaluation = metrics
        self.record.metrics.update({prefix + k: v for k, v in metrics.flat().items()})

    def register(self, classifier: Classifier) -> ModelVersion:
        digest = self.record.datasets[-1].digest if self.record.datasets else ""
        version = self._registry._add_version(classifier, self.record, digest)
        self.record.registered_version = version.version
        return version


class InMemoryModelRegistry(ModelRegistry):
    def __init__(self, model_name: str = "SentimentAnalysisModel") -> None:
        self._model_name = model_name
        self._lock = threading.RLock()
        self._versions: dict[str, ModelVersion] = {}
        self._classifiers: dict[str, Classifier] = {}
        self._aliases: dict[str, str] = {}
        self._run_ids = itertools.count(1)
        self.runs: list[RunRecord] = []

    @property
    def model_name(self) -> str:
        return self._model_name

    @contextmanager
    def start_run(self, run_name: str | None = None) -> Iterator[TrainingRun]:
        record = RunRecord(run_id=f"memory-run-{next(self._run_ids)}", name=run_name)
        with self._lock:
            self.runs.append(record)
        try:
            yield _MemoryRun(self, record)
        except BaseException:
            record.status = "FAILED"
            raise
        record.status = "FINISHED"

    def _add_version(self, classifier: Classifier, record: RunRecord, digest: str) -> ModelVersion:
        with self._lock:
            number = str(len(self._versions) + 1)
            version = ModelVersion(
                name=self._model_name,
                version=number,
                run_id=record.run_id,
                metrics=dict(record.metrics),
                dataset_digest=digest,
                created_at=time.time(),
            )
            self._versions[number] = version
            self._classifiers[number] = classifier
            return version

    def add(
        self, classifier: Classifier, metrics: Mapping[str, float] | None = None
    ) -> ModelVersion:
        """Register a fitted classifier directly, outside any training run (for tests and demos)."""
        with self.start_run("direct") as run:
            assert isinstance(run, _MemoryRun)
            run.record.metrics.update(metrics or {})
            return run.register(classifier)

    def _with_aliases(self, version: ModelVersion) -> ModelVersion:
        aliases = tuple(sorted(a for a, v in self._aliases.items() if v == version.version))
        return replace(version, aliases=aliases)

    def get_version(self, version: str) -> ModelVersion:
        with self._lock:
            found = self._versions.get(str(version))
            if found is None:
                raise ModelNotFoundError(f"{self._model_name} has no version {version}")
            return self._with_aliases(found)

    def get_by_alias(self, alias: str) -> ModelVersion:
        with self._lock:
            number = self._aliases.get(alias)
            if number is None:
                raise ModelNotFoundError(f"{self._model_name} has no alias @{alias}")
            return self.get_version(number)

    def latest_version(self) -> ModelVersion:
        with self._lock:
            if not self._versions:
                raise ModelNotFoundError(f"{self._model_name} has no registered version")
            return self.get_version(max(self._versions, key=int))

    def list_versions(self) -> list[ModelVersion]:
        with self._lock:
            return [self.get_version(v) for v in sorted(self._versions, key=int)]

    def set_alias(self, alias: str, version: str) -> None:
        check_alias(alias)
        with self._lock:
            self.get_version(version)
            self._aliases[alias] = str(version)

    def delete_alias(self, alias: str) -> None:
        with self._lock:
            if self._aliases.pop(alias, None) is None:
                raise ModelNotFoundError(f"{self._model_name} has no alias @{alias}")

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        with self._lock:
            found = self.get_version(version)
            merged = {**self._versions[found.version].tags, **tags}
            self._versions[found.version] = replace(self._versions[found.version], tags=merged)

    def load(self, version: str) -> Classifier:
        with self._lock:
            self.get_version(version)
            return self._classifiers[str(version)]
