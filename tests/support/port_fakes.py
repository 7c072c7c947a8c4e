"""In-memory test doubles for the ports that have no in-memory adapter in `src/`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from sentiment.domain.errors import ClassifierError, DatasetError, NotFittedError
from sentiment.domain.model import LabelledDataset, ParamValue, Prediction
from sentiment.domain.ports import Classifier, ClassifierFactory, DatasetSource


class InMemoryDatasetSource(DatasetSource):
    """Serves a dataset held in memory, or raises the error it was given. Counts its loads."""

    def __init__(self, dataset: LabelledDataset | None = None, error: Exception | None = None):
        self._dataset = dataset
        self._error = error
        self.loads = 0

    @classmethod
    def of(cls, rows: Sequence[tuple[str, str]], dropped: int = 0) -> InMemoryDatasetSource:
        return cls(
            LabelledDataset(
                texts=tuple(text for text, _ in rows),
                labels=tuple(label for _, label in rows),
                name="in-memory",
                source="memory://tests",
                digest=f"digest-{len(rows)}",
                dropped=dropped,
            )
        )

    def load(self) -> LabelledDataset:
        self.loads += 1
        if self._error is not None:
            raise self._error
        if self._dataset is None:
            raise DatasetError("no dataset")
        return self._dataset


class KeywordClassifier(Classifier):
    """A tiny, deterministic classifier: each word votes for the label it was seen with most.

    `fail_with`, when set, is raised by `fit` (to exercise failure paths).
    """

    def __init__(
        self,
        hyperparameters: Mapping[str, ParamValue] | None = None,
        fail_with: Exception | None = None,
    ) -> None:
        self._params: dict[str, ParamValue] = {"smoothing": 1.0, **(hyperparameters or {})}
        self._fail_with = fail_with
        self._votes: dict[str, Counter[str]] = {}
        self._classes: tuple[str, ...] = ()
        self.fitted_on: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    @property
    def model_type(self) -> str:
        return "keyword"

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        return dict(self._params)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        if self._fail_with is not None:
            raise self._fail_with
        if len(set(labels)) < 2:
            raise ClassifierError("need at least two classes to fit")
        self.fitted_on = (tuple(texts), tuple(labels))
        self._classes = tuple(sorted(set(labels)))
        self._votes = {}
        for text, label in zip(texts, labels, strict=True):
            for word in text.lower().split():
                self._votes.setdefault(word, Counter())[label] += 1

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if not self._classes:
            raise NotFittedError("not fitted")
        smoothing = float(self._params["smoothing"])
        predictions = []
        for text in texts:
            score = dict.fromkeys(self._classes, smoothing)
            for word in text.lower().split():
                for label, count in self._votes.get(word, Counter()).items():
                    score[label] += count
            total = sum(score.values())
            probabilities = {label: s / total for label, s in score.items()}
            best = max(self._classes, key=lambda label: (probabilities[label], label))
            predictions.append(Prediction(best, probabilities))
        return predictions


class KeywordClassifierFactory(ClassifierFactory):
    """Makes KeywordClassifiers; `make` replaces the constructor (to inject failing ones)."""

    def __init__(self, make: Callable[[Mapping[str, ParamValue]], Classifier] | None = None):
        self._make = make or (lambda hp: KeywordClassifier(hp))
        self.created: list[Classifier] = []

    @property
    def model_types(self) -> tuple[str, ...]:
        return ("keyword",)

    def create(
        self, model_type: str, hyperparameters: Mapping[str, ParamValue] | None = None
    ) -> Classifier:
        if model_type != "keyword":
            raise ClassifierError(f"unknown model type {model_type!r}")
        classifier = self._make(dict(hyperparameters or {}))
        self.created.append(classifier)
        return classifier


class RecordingProgress:
    """A ProgressObserver that remembers every call."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.details: dict[str, str] = {}

    def stage_started(self, stage: str) -> None:
        self.events.append(("started", stage))

    def stage_finished(self, stage: str, seconds: float, detail: str = "") -> None:
        assert seconds >= 0.0
        self.events.append(("finished", stage))
        self.details[stage] = detail


def polar_rows(per_class: int = 20) -> list[tuple[str, str]]:
    """Obvious positive and negative texts, each distinct, interleaved."""
    rows = []
    for i in range(per_class):
        rows.append((f"great wonderful film number {i}", "positive"))
        rows.append((f"awful boring film number {i}", "negative"))
    return rows
