"""InMemoryModelRegistry: the ModelRegistry port held in process memory.

A real adapter with the same semantics as the MLflow one (checked by the contract tests in
tests/integration/registry): versions "1", "2"..., aliases, tags, runs marked FINISHED or
FAILED, live run metrics. Used by tests and by `SENTIMENT_REGISTRY=memory`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from sentiment.domain.errors import ModelNotFoundError, RegistryError, RegistryUnavailableError
from sentiment.domain.metrics import EvaluationMetrics
from sentiment.domain.model import DatasetInfo, ModelVersion, ParamValue
from sentiment.domain.model_ref import canonical_version, check_alias, check_tag
from sentiment.domain.ports import Classifier, ModelRegistry, TrainingRun

__all__ = ["InMemoryModelRegistry", "RunRecord", "check_alias"]


@dataclass
class RunRecord:
    """What one run logged, kept for inspection."""

    run_id: str
    name: str | None
    status: str = "RUNNING"
    params: dict[str, ParamValue] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    datasets: list[DatasetInfo] = field(default_factory=list)
    dataset_contexts: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    evaluation: EvaluationMetrics | None = None
    registered_version: str | None = None


@dataclass
class _StoredVersion:
    version: str
    run_id: str
    created_at: float
    classifier: Classifier
    tags: dict[str, str]


class _MemoryRun(TrainingRun):
    def __init__(self, registry: InMemoryModelRegistry, record: RunRecord) -> None:
        self._registry = registry
        self.record = record

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        self._registry._check_reachable()
        # As MLflow: a param once logged keeps its value (compared as the text MLflow stores);
        # a batch that would change one is refused whole.
        logged = self.record.params
        changed = [k for k, v in params.items() if k in logged and str(logged[k]) != str(v)]
        if changed:
            raise RegistryError(
                "log params: changing param values is not allowed: "
                + ", ".join(f"{k} was {logged[k]!r}, not {params[k]!r}" for k in changed)
            )
        self.record.params.update(params)

    def log_dataset(self, info: DatasetInfo, context: str = "training") -> None:
        self._registry._check_reachable()
        primary = context == "training" or not self.record.datasets
        self.record.datasets.append(info)
        self.record.dataset_contexts.append(context)
        self.record.tags["dataset_digest" if primary else f"{context}_dataset_digest"] = info.digest

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._registry._check_reachable()
        for key, value in tags.items():
            check_tag(key, value)
        self.record.tags.update(tags)

    def log_evaluation(self, metrics: EvaluationMetrics, prefix: str = "") -> None:
        self._registry._check_reachable()
        self.record.evaluation = metrics
        self.record.metrics.update({prefix + k: v for k, v in metrics.flat().items()})

    def register(self, classifier: Classifier) -> ModelVersion:
        digest = self.record.tags.get("dataset_digest")  # the training data's (`log_dataset`)
        version = self._registry._add_version(classifier, self.record, digest)
        self.record.registered_version = version.version
        if self._registry.on_register is not None:
            self._registry.on_register(version)
        return version


class InMemoryModelRegistry(ModelRegistry):
    def __init__(self, model_name: str = "SentimentAnalysisModel") -> None:
        self._model_name = model_name
        self._lock = threading.RLock()
        self._versions: dict[str, _StoredVersion] = {}
        self._aliases: dict[str, str] = {}
        self._run_ids = itertools.count(1)
        self._runs_by_id: dict[str, RunRecord] = {}
        self._unreachable = False
        self.runs: list[RunRecord] = []
        # Called with each version right after it is registered, inside its run: tests set it
        # to simulate a crash or an outage there (as `set_reachable` simulates one anywhere).
        self.on_register: Callable[[ModelVersion], None] | None = None

    @property
    def model_name(self) -> str:
        return self._model_name

    def set_reachable(self, reachable: bool) -> None:
        """Simulate an outage: while unreachable, every call raises RegistryUnavailableError."""
        self._unreachable = not reachable

    def _check_reachable(self) -> None:
        if self._unreachable:
            raise RegistryUnavailableError(f"{self._model_name}: the registry is unreachable")

    @contextmanager
    def start_run(self, run_name: str | None = None) -> Iterator[TrainingRun]:
        self._check_reachable()
        record = RunRecord(run_id=f"memory-run-{next(self._run_ids)}", name=run_name)
        with self._lock:
            self.runs.append(record)
            self._runs_by_id[record.run_id] = record
        try:
            yield _MemoryRun(self, record)
        except BaseException:
            record.status = "FAILED"
            raise
        record.status = "FINISHED"

    def _add_version(
        self, classifier: Classifier, record: RunRecord, digest: str | None
    ) -> ModelVersion:
        self._check_reachable()
        tags = {"model_type": classifier.model_type}
        if digest is not None:
            tags["dataset_digest"] = digest
        with self._lock:
            number = str(len(self._versions) + 1)
            self._versions[number] = _StoredVersion(
                number, record.run_id, time.time(), classifier, tags
            )
            return self._view(self._versions[number])

    def add(
        self, classifier: Classifier, metrics: Mapping[str, float] | None = None
    ) -> ModelVersion:
        """Register a fitted classifier directly, outside any training run (for tests and demos)."""
        with self.start_run("direct") as run:
            assert isinstance(run, _MemoryRun)
            run.record.metrics.update(metrics or {})
            return run.register(classifier)

    def _view(self, stored: _StoredVersion) -> ModelVersion:
        run = self._runs_by_id.get(stored.run_id)
        return ModelVersion(
            name=self._model_name,
            version=stored.version,
            run_id=stored.run_id,
            aliases=tuple(sorted(a for a, v in self._aliases.items() if v == stored.version)),
            tags=dict(stored.tags),
            metrics=dict(run.metrics) if run else {},
            dataset_digest=stored.tags.get("dataset_digest", ""),
            created_at=stored.created_at,
            run_status=run.status if run else "",
        )

    def _stored(self, version: str) -> _StoredVersion:
        self._check_reachable()
        number = canonical_version(version)
        found = self._versions.get(number) if number else None
        if found is None:
            raise ModelNotFoundError(f"{self._model_name} has no version {version}")
        return found

    def get_version(self, version: str) -> ModelVersion:
        with self._lock:
            return self._view(self._stored(version))

    def get_by_alias(self, alias: str) -> ModelVersion:
        check_alias(alias)
        with self._lock:
            self._check_reachable()
            number = self._aliases.get(alias)
            if number is None:
                raise ModelNotFoundError(f"{self._model_name} has no alias @{alias}")
            return self.get_version(number)

    def latest_version(self) -> ModelVersion:
        with self._lock:
            self._check_reachable()
            if not self._versions:
                raise ModelNotFoundError(f"{self._model_name} has no registered version")
            return self.get_version(max(self._versions, key=int))

    def list_versions(self) -> list[ModelVersion]:
        with self._lock:
            self._check_reachable()
            return [self._view(self._versions[v]) for v in sorted(self._versions, key=int)]

    def set_alias(self, alias: str, version: str) -> None:
        check_alias(alias)
        with self._lock:
            self._aliases[alias] = self._stored(version).version

    def alias_lock(self) -> AbstractContextManager[object]:
        return self._lock  # a reentrant lock: an alias move inside it may read and write

    def delete_alias(self, alias: str) -> None:
        check_alias(alias)
        with self._lock:
            self._check_reachable()
            if self._aliases.pop(alias, None) is None:
                raise ModelNotFoundError(f"{self._model_name} has no alias @{alias}")

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            check_tag(key, value)
        with self._lock:
            self._stored(version).tags.update(tags)

    def load(self, version: str) -> Classifier:
        with self._lock:
            return self._stored(version).classifier
