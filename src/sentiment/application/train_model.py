"""TrainModel: load -> validate -> split (or separate evaluation data) -> fit -> evaluate -> log
and register -> gate."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from sentiment.application.gate_candidate import (
    GateCandidate,
    GateCandidateCommand,
    GateCandidateResult,
)
from sentiment.application.progress import ProgressObserver, SilentProgress, stage
from sentiment.domain.errors import SentimentError
from sentiment.domain.metrics import EvaluationMetrics, evaluate
from sentiment.domain.model import LabelledDataset, ParamValue
from sentiment.domain.ports import ClassifierFactory, DatasetSource, ModelRegistry
from sentiment.domain.promotion import CHAMPION
from sentiment.domain.split import (
    Split,
    evaluation_split,
    shared_texts,
    stratified_split,
    validate_for_training,
)

__all__ = ["CHAMPION", "TrainModel", "TrainModelCommand", "TrainModelResult"]


@dataclass(frozen=True, slots=True)
class TrainModelCommand:
    model_type: str
    hyperparameters: Mapping[str, ParamValue] = field(default_factory=dict)
    test_size: float = 0.2
    random_state: int = 42
    run_name: str | None = None
    actor: str = ""
    """Who trained (recorded with the gate's alias move)."""


@dataclass(frozen=True, slots=True)
class TrainModelResult:
    run_id: str
    model_name: str
    model_version: str
    metrics: Mapping[str, float]
    evaluation: EvaluationMetrics
    params: Mapping[str, ParamValue]
    rows: int
    dropped_rows: int
    train_rows: int
    test_rows: int
    aliases: tuple[str, ...]
    duration_s: float
    promotion: GateCandidateResult | None = None
    """The quality gate's decision (None when the use case was built without a gate)."""


class TrainModel:
    """Train a classifier on a dataset, evaluate it on a held-out split and register it.

    With an `evaluation_source` (separate labelled data, such as an official test set) there is
    no split: the classifier trains on every row of the dataset and is evaluated, and gated, on
    the evaluation data; `test_size` is then unused.

    Invalid data (DatasetError) is refused before any run is opened, so nothing is logged or
    registered. Any failure after that leaves the run marked failed.

    With a `gate`, once the run has FINISHED the new version goes through the quality gate on the
    same held-out split (GateCandidate): @champion or @challenger. A run that dies before then
    leaves a version without an alias, never a champion without a finished evaluation.
    """

    def __init__(
        self,
        dataset_source: DatasetSource,
        classifier_factory: ClassifierFactory,
        registry: ModelRegistry,
        progress: ProgressObserver | None = None,
        gate: GateCandidate | None = None,
        evaluation_source: DatasetSource | None = None,
    ) -> None:
        self._source = dataset_source
        self._evaluation_source = evaluation_source
        self._factory = classifier_factory
        self._registry = registry
        self._progress = progress or SilentProgress()
        self._gate = gate

    def execute(self, command: TrainModelCommand) -> TrainModelResult:
        started = time.perf_counter()
        # A misspelt model type or hyperparameter is refused before the data is read (or
        # downloaded), not after.
        classifier = self._factory.create(command.model_type, command.hyperparameters)
        with stage(self._progress, "load") as note:
            dataset = self._source.load()
            validate_for_training(dataset)
            held_out = self._evaluation_source.load() if self._evaluation_source else None
            note(
                f"{len(dataset)} rows, {dataset.dropped} dropped, classes {dataset.class_counts()}"
                + (f"; evaluation data {_describe(held_out)}" if held_out is not None else "")
            )
        with stage(self._progress, "split") as note:
            if held_out is None:
                split = stratified_split(dataset, command.test_size, command.random_state)
            else:
                split = evaluation_split(dataset, held_out, command.random_state)
            overlap = shared_texts(split.train, split.test)
            note(
                f"{len(split.train)} train / {len(split.test)} test"
                + (f" ({held_out.name})" if held_out is not None else "")
                + (f"; {overlap} test texts also in the training data" if overlap else "")
            )
        evaluation: dict[str, ParamValue] = (
            {"test_size": command.test_size}
            if held_out is None
            else {"eval_data": held_out.name, "eval_digest": held_out.digest}
        )
        params: dict[str, ParamValue] = {
            "dataset_size": len(dataset),
            "dropped_rows": dataset.dropped,
            "train_size": len(split.train),
            "eval_size": len(split.test),
            "eval_overlap": overlap,
            "model_type": classifier.model_type,
            **evaluation,
            "random_state": command.random_state,
            **{f"hp_{k}": v for k, v in classifier.hyperparameters().items()},
        }
        with self._registry.start_run(command.run_name) as run:
            run.set_tags({"sentiment.run_kind": "training"})
            run.log_params(params)
            run.log_dataset(dataset.info())
            if held_out is not None:
                run.log_dataset(held_out.info(), context="evaluation")
            with stage(self._progress, "fit") as note:
                classifier.fit(split.train.texts, split.train.labels)
                note(f"{classifier.model_type} on {len(split.train)} texts")
            with stage(self._progress, "evaluate") as note:
                predictions = classifier.predict(split.test.texts)
                metrics = evaluate(
                    split.test.labels, [p.label for p in predictions], labels=dataset.classes
                )
                note(f"accuracy {metrics.accuracy:.4f}, macro-F1 {metrics.macro_f1:.4f}")
            with stage(self._progress, "log"):
                run.log_evaluation(metrics)
            with stage(self._progress, "register") as note:
                version = run.register(classifier)
                note(f"{version.name} version {version.version}")
            run_id = run.run_id
        promotion: GateCandidateResult | None = None
        aliases: tuple[str, ...] = ()
        if self._gate is not None:
            with stage(self._progress, "gate") as note, _registered_anyway(version.version):
                promotion = self._gate.execute(
                    GateCandidateCommand(
                        candidate_version=version.version,
                        holdout=split.test,
                        actor=command.actor,
                        holdout_label=_holdout_label(dataset, split, command, held_out is None),
                    )
                )
                aliases = (promotion.alias,)
                note(f"@{promotion.alias}: {promotion.reason}")
        return TrainModelResult(
            run_id=run_id,
            model_name=version.name,
            model_version=version.version,
            metrics=metrics.flat(),
            evaluation=metrics,
            params=params,
            rows=len(dataset),
            dropped_rows=dataset.dropped,
            train_rows=len(split.train),
            test_rows=len(split.test),
            aliases=aliases,
            duration_s=time.perf_counter() - started,
            promotion=promotion,
        )


def _holdout_label(
    dataset: LabelledDataset, split: Split, command: TrainModelCommand, is_split: bool
) -> str:
    """How the gate's record names the data both versions were scored on."""
    if is_split:
        return (
            f"{dataset.name} test split (test_size {command.test_size}, "
            f"random_state {command.random_state}, {len(split.test)} rows, "
            f"dataset digest {dataset.digest})"
        )
    return f"{split.test.name} ({len(split.test)} rows, dataset digest {split.test.digest})"


def _describe(dataset: LabelledDataset) -> str:
    return f"{dataset.name}: {len(dataset)} rows, {dataset.dropped} dropped, classes " + str(
        dataset.class_counts()
    )


@contextmanager
def _registered_anyway(version: str) -> Iterator[None]:
    """A failed gate leaves a registered version without an alias: the error says so."""
    try:
        yield
    except SentimentError as exc:
        raise type(exc)(
            f"version {version} was registered but the quality gate did not finish, so it "
            f"holds no alias (promote it by hand once resolved): {exc}"
        ) from exc
