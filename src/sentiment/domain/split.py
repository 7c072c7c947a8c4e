"""Validation, a deterministic stratified train/test split, or training on every row against
separate evaluation data, in pure Python."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sentiment.domain.errors import DatasetError
from sentiment.domain.model import LabelledDataset


@dataclass(frozen=True, slots=True)
class Split:
    train: LabelledDataset
    test: LabelledDataset


def validate_for_training(dataset: LabelledDataset) -> None:
    """Refuse data that cannot train a classifier, with a message that says why."""
    if len(dataset) == 0:
        if dataset.dropped:
            raise DatasetError(
                f"all {dataset.dropped} rows have an empty text or label: nothing to train on"
            )
        raise DatasetError("the dataset has no rows")
    classes = dataset.classes
    _refuse_near_duplicate_labels(classes)
    if len(classes) < 2:
        raise DatasetError(
            f"need at least two classes to train, found {len(classes)}: {', '.join(classes)}"
        )


def _refuse_near_duplicate_labels(classes: tuple[str, ...]) -> None:
    """Labels that differ only in case or surrounding whitespace ("positive", "Positive",
    "positive ") would train as separate classes, each with part of the examples: refused, not
    folded (which spelling would the model answer with?)."""
    by_key: dict[str, list[str]] = {}
    for label in classes:
        by_key.setdefault(label.strip().casefold(), []).append(label)
    clashes = [group for group in by_key.values() if len(group) > 1]
    if not clashes:
        return
    how = (
        "case"
        if all(label == label.strip() for group in clashes for label in group)
        else "case or surrounding whitespace"
    )
    raise DatasetError(
        f"labels differ only in {how}: "
        + "; ".join(", ".join(map(repr, group)) for group in clashes)
        + " (they would train as separate classes: make each label one spelling)"
    )


def n_test_examples(class_size: int, test_size: float) -> int:
    """How many examples of a class of `class_size` go to the test side."""
    return round(class_size * test_size)


def stratified_split(dataset: LabelledDataset, test_size: float, random_state: int) -> Split:
    """Split each class in the proportion `test_size`, shuffled by `random_state`.

    The same dataset, `test_size` and `random_state` always give the same split. Every class must
    keep at least one example on each side, otherwise a DatasetError names the class.
    """
    if not 0.0 < test_size < 1.0:
        raise DatasetError(f"test size must be between 0 and 1 (exclusive), got {test_size}")
    validate_for_training(dataset)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(dataset.labels):
        by_class.setdefault(label, []).append(i)

    rng = random.Random(random_state)
    train_idx: list[int] = []
    test_idx: list[int] = []
    for label in sorted(by_class):
        indices = by_class[label]
        n_test = n_test_examples(len(indices), test_size)
        if n_test < 1 or n_test >= len(indices):
            raise DatasetError(
                f"class {label!r} has {len(indices)} example(s): too few for a test size of "
                f"{test_size} (each class needs at least one example on each side)"
            )
        shuffled = indices[:]
        rng.shuffle(shuffled)
        test_idx.extend(shuffled[:n_test])
        train_idx.extend(shuffled[n_test:])
    # Interleave the classes, deterministically, so that neither side is sorted by label.
    rng.shuffle(train_idx)
    rng.shuffle(test_idx)
    return Split(
        train=_subset(dataset, train_idx, "train"), test=_subset(dataset, test_idx, "test")
    )


def evaluation_split(
    dataset: LabelledDataset, evaluation: LabelledDataset, random_state: int
) -> Split:
    """Train on every row of `dataset` and evaluate on `evaluation`, separate labelled data (an
    official test set, say).

    The training side is `dataset` shuffled by `random_state`, as a split's training side is. The
    evaluation data must have rows, and no label that the training data lacks (the model could
    never predict it); otherwise a DatasetError says which.
    """
    validate_for_training(dataset)
    if len(evaluation) == 0:
        raise DatasetError(
            f"the evaluation data {evaluation.name!r} has no rows"
            + (
                f" ({evaluation.dropped} dropped: empty text or label)"
                if evaluation.dropped
                else ""
            )
        )
    unknown = sorted(set(evaluation.classes) - set(dataset.classes))
    if unknown:
        raise DatasetError(
            f"the evaluation data has labels the training data lacks: "
            f"{', '.join(map(repr, unknown))} (training labels: "
            f"{', '.join(map(repr, dataset.classes))})"
        )
    order = list(range(len(dataset)))
    random.Random(random_state).shuffle(order)
    return Split(train=_subset(dataset, order, "train"), test=evaluation)


def shared_texts(train: LabelledDataset, test: LabelledDataset) -> int:
    """How many texts of `test` also occur, character for character, in `train`: examples the
    model has seen, which flatter its metrics."""
    seen = set(train.texts)
    return sum(1 for text in test.texts if text in seen)


def _subset(dataset: LabelledDataset, indices: list[int], part: str) -> LabelledDataset:
    return LabelledDataset(
        texts=tuple(dataset.texts[i] for i in indices),
        labels=tuple(dataset.labels[i] for i in indices),
        name=f"{dataset.name}-{part}",
        source=dataset.source,
        digest=dataset.digest,
    )
