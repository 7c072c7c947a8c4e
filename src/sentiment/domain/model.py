"""Value objects of the sentiment domain."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from sentiment.domain.errors import DatasetError

ParamValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class LabelledDataset:
    """Texts with one string label each, plus where they came from.

    `digest` identifies the content (same texts and labels -> same digest); `dropped` counts the
    rows the source discarded because their text or label was empty or missing.
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    name: str = "dataset"
    source: str = ""
    digest: str = ""
    dropped: int = 0

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DatasetError(f"dataset has {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> tuple[str, ...]:
        """The distinct labels, sorted."""
        return tuple(sorted(set(self.labels)))

    def class_counts(self) -> dict[str, int]:
        """How many examples each label has, by label in sorted order."""
        counts = Counter(self.labels)
        return {label: counts[label] for label in sorted(counts)}

    def info(self) -> DatasetInfo:
        """What a run records about it."""
        return DatasetInfo(
            name=self.name,
            source=self.source,
            digest=self.digest,
            rows=len(self),
            dropped=self.dropped,
            class_counts=self.class_counts(),
        )


@dataclass(frozen=True, slots=True)
class Prediction:
    """A predicted label with the probability the model gives each class."""

    label: str
    probabilities: Mapping[str, float]

    @property
    def confidence(self) -> float:
        """The probability of the predicted label."""
        return self.probabilities[self.label]


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What a training run records about its data."""

    name: str
    source: str
    digest: str
    rows: int
    dropped: int
    class_counts: Mapping[str, int]


READY = "READY"
"""The registry status of a version whose files are all in place: the only one made champion."""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    dataset_digest: str = ""
    created_at: float = 0.0
    run_status: str = ""
    """Status of the run that produced it: RUNNING, FINISHED, FAILED, KILLED ("" if unknown)."""
    status: str = READY
    """The registry's status of the version: READY, or PENDING_REGISTRATION or
    FAILED_REGISTRATION while its files are not (or never were) all in place."""

    @property
    def run_finished(self) -> bool:
        """Did the run that produced this version finish (and so finish its evaluation)?"""
        return self.run_status == "FINISHED"
