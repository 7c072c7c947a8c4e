"""Ports: what the application needs from the outside world, as `typing.Protocol` classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, runtime_checkable

from sentiment.domain.metrics import EvaluationMetrics
from sentiment.domain.model import (
    DatasetInfo,
    LabelledDataset,
    ModelVersion,
    ParamValue,
    Prediction,
)


@runtime_checkable
class Classifier(Protocol):
    """A text classifier: fitted once, then asked for predictions."""

    @property
    def model_type(self) -> str:
        """The name of the model type (for example `tfidf-lr`)."""
        ...

    @property
    def classes(self) -> tuple[str, ...]:
        """The labels it can predict, sorted; empty before `fit`."""
        ...

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        """Every setting that shapes the model, as flat plain values."""
        ...

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        """Learn from labelled texts. Raises ClassifierError when it cannot."""
        ...

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in order. Raises NotFittedError before `fit`."""
        ...


class ClassifierFactory(Protocol):
    """Makes new, unfitted classifiers of a named type."""

    @property
    def model_types(self) -> tuple[str, ...]: ...

    def create(
        self, model_type: str, hyperparameters: Mapping[str, ParamValue] | None = None
    ) -> Classifier:
        """A fresh classifier. Raises ClassifierError for an unknown type or a bad setting."""
        ...


class DatasetSource(Protocol):
    """Where labelled texts come from."""

    def load(self) -> LabelledDataset:
        """The whole dataset. Raises DatasetError when it cannot be read or is malformed."""
        ...


class TrainingRun(Protocol):
    """One tracked run: what went in, how it scored, and the model it produced."""

    @property
    def run_id(self) -> str: ...

    def log_params(self, params: Mapping[str, ParamValue]) -> None: ...

    def log_dataset(self, info: DatasetInfo, context: str = "training") -> None:
        """Record the data the run used; `context` says how (`training`, `evaluation`)."""
        ...

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Tag the run (for example: which model version an evaluation run scored)."""
        ...

    def log_evaluation(self, metrics: EvaluationMetrics, prefix: str = "") -> None: ...

    def register(self, classifier: Classifier) -> ModelVersion:
        """Store the fitted classifier and register it as a new version of the model."""
        ...


class ModelReader(Protocol):
    """The read side of a model registry: what serving a version needs.

    Versions are strings of positive integers, in order of registration ("03" means "3"). Lookups
    of a version or alias that does not exist raise ModelNotFoundError; a malformed alias raises
    RegistryInputError (see `domain.model_ref`); a registry that cannot be reached raises
    RegistryUnavailableError. A version's metrics are its run's, as they are now; its tags
    include `model_type` and `dataset_digest` from registration.
    """

    @property
    def model_name(self) -> str: ...

    def get_version(self, version: str) -> ModelVersion: ...

    def get_by_alias(self, alias: str) -> ModelVersion: ...

    def list_versions(self) -> list[ModelVersion]:
        """Every version, oldest first; empty when the model is not registered yet."""
        ...

    def load(self, version: str) -> Classifier:
        """The stored classifier of a version. Raises ModelLoadError when it cannot be loaded."""
        ...


class ModelRegistry(ModelReader, Protocol):
    """Versions of one named model: runs, versions, aliases, tags and the stored classifiers.

    Everything a ModelReader reads, plus runs and the writes: aliases and tags (a malformed
    version, alias or tag raises RegistryInputError).
    """

    def start_run(self, run_name: str | None = None) -> AbstractContextManager[TrainingRun]:
        """Open a tracked run. Leaving the block by an exception marks the run failed."""
        ...

    def latest_version(self) -> ModelVersion:
        """The newest version. Raises ModelNotFoundError when none is registered."""
        ...

    def set_alias(self, alias: str, version: str) -> None: ...

    def delete_alias(self, alias: str) -> None: ...

    def alias_lock(self) -> AbstractContextManager[object]:
        """Held while an alias move checks who holds the alias and moves it, so that two moves
        cannot both pass that check: among processes where the store allows it (a local
        SQLite file), else within this process at most. Without one: no lock at all."""
        return nullcontext()

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags of a version; its other tags stay."""
        ...
