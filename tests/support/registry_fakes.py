"""Test doubles for the registry use cases: classifiers with a known score, a ticking clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.domain.errors import ModelLoadError
from sentiment.domain.metrics import evaluate
from sentiment.domain.model import LabelledDataset, ModelVersion, ParamValue, Prediction
from sentiment.domain.ports import Classifier

LABELS = ("negative", "positive")


def holdout(size: int = 20) -> LabelledDataset:
    """`size` texts, half of each label, alternating."""
    return LabelledDataset(
        texts=tuple(f"review {i}" for i in range(size)),
        labels=tuple(LABELS[i % 2] for i in range(size)),
        name="holdout",
        source="tests",
        digest="h0ld0ut",
    )


class ScriptedClassifier(Classifier):
    """Knows the answer for each text of a dataset and gets the first `wrong` ones wrong."""

    def __init__(self, data: LabelledDataset, wrong: int = 0, model_type: str = "scripted"):
        flip = {LABELS[0]: LABELS[1], LABELS[1]: LABELS[0]}
        self.answers = {
            text: (flip[label] if i < wrong else label)
            for i, (text, label) in enumerate(zip(data.texts, data.labels, strict=True))
        }
        self._model_type = model_type
        self.predicted = 0

    @property
    def model_type(self) -> str:
        return self._model_type

    @property
    def classes(self) -> tuple[str, ...]:
        return LABELS

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        return {}

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        return None

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.predicted += len(texts)
        out = []
        for text in texts:
            label = self.answers.get(text, LABELS[0])
            other = LABELS[1 - LABELS.index(label)]
            out.append(Prediction(label, {label: 0.9, other: 0.1}))
        return out


def f1_of(classifier: Classifier, data: LabelledDataset) -> float:
    predicted = [p.label for p in classifier.predict(data.texts)]
    return evaluate(data.labels, predicted, labels=LABELS).macro_f1


class Clock:
    """A clock that moves one second each time it is read."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class BrokenArtifactRegistry(InMemoryModelRegistry):
    """An in-memory registry whose listed versions fail to load, as a lost artifact would."""

    def __init__(self, model_name: str = "SentimentAnalysisModel") -> None:
        super().__init__(model_name)
        self.broken: set[str] = set()

    def load(self, version: str) -> Classifier:
        if str(version) in self.broken:
            raise ModelLoadError(f"version {version}: the model's artifacts are missing")
        return super().load(version)


def register(
    registry: InMemoryModelRegistry, classifier: Classifier, f1: float | None = 0.9
) -> ModelVersion:
    """A version from a finished run that logged macro-F1 `f1` (None: logged nothing)."""
    return registry.add(classifier, {} if f1 is None else {"f1_macro": f1, "accuracy": f1})


class FailingRegistry(InMemoryModelRegistry):
    """An in-memory registry that raises `resolve_error` from every lookup (a version, an alias,
    the list of versions) and `load_error` from `load`, each while it is set."""

    def __init__(self, model_name: str = "SentimentAnalysisModel") -> None:
        super().__init__(model_name)
        self.resolve_error: Exception | None = None
        self.load_error: Exception | None = None

    def get_version(self, version: str) -> ModelVersion:
        if self.resolve_error is not None:
            raise self.resolve_error
        return super().get_version(version)

    def get_by_alias(self, alias: str) -> ModelVersion:
        if self.resolve_error is not None:
            raise self.resolve_error
        return super().get_by_alias(alias)

    def list_versions(self) -> list[ModelVersion]:
        if self.resolve_error is not None:
            raise self.resolve_error
        return super().list_versions()

    def load(self, version: str) -> Classifier:
        if self.load_error is not None:
            raise self.load_error
        return super().load(version)


class RelabelledClassifier(ScriptedClassifier):
    """A ScriptedClassifier that speaks other labels (`negative` -> `0`, `positive` -> `1`, by
    default): a model trained on the same texts labelled differently."""

    def __init__(
        self,
        data: LabelledDataset,
        wrong: int = 0,
        names: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(data, wrong)
        self.names = dict(names or {LABELS[0]: "0", LABELS[1]: "1"})

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(self.names.values()))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return [
            Prediction(self.names[p.label], {self.names[k]: v for k, v in p.probabilities.items()})
            for p in super().predict(texts)
        ]


def relabelled(data: LabelledDataset, names: Mapping[str, str] | None = None) -> LabelledDataset:
    """The same texts, labelled as a RelabelledClassifier with `names` speaks."""
    mapping = dict(names or {LABELS[0]: "0", LABELS[1]: "1"})
    return LabelledDataset(
        texts=data.texts,
        labels=tuple(mapping[label] for label in data.labels),
        name=f"{data.name}-relabelled",
        source=data.source,
        digest=f"{data.digest}-relabelled",
    )


class InterferingRegistry(InMemoryModelRegistry):
    """An in-memory registry where another process acts at a chosen moment: `during_load[v]`
    runs once on the next `load` of version v, `during_tags` once on the next `set_tags` and
    `after_alias` once on the next `set_alias` (each after the call is applied)."""

    def __init__(self, model_name: str = "SentimentAnalysisModel") -> None:
        super().__init__(model_name)
        self.during_load: dict[str, Callable[[], object]] = {}
        self.during_tags: Callable[[], object] | None = None
        self.after_alias: Callable[[], object] | None = None

    def load(self, version: str) -> Classifier:
        act = self.during_load.pop(version, None)
        if act is not None:
            act()
        return super().load(version)

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        super().set_tags(version, tags)
        act, self.during_tags = self.during_tags, None
        if act is not None:
            act()

    def set_alias(self, alias: str, version: str) -> None:
        super().set_alias(alias, version)
        act, self.after_alias = self.after_alias, None
        if act is not None:
            act()
