"""Evaluation metrics as pure functions (they agree with `sklearn.metrics`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class EvaluationMetrics:
    """Accuracy, macro-F1, per-class scores and the confusion matrix.

    `confusion_matrix[i][j]` counts examples of true label `labels[i]` predicted as `labels[j]`.
    """

    labels: tuple[str, ...]
    accuracy: float
    macro_f1: float
    per_class: Mapping[str, ClassMetrics]
    confusion_matrix: tuple[tuple[int, ...], ...]

    @property
    def support(self) -> int:
        return sum(m.support for m in self.per_class.values())

    def flat(self) -> dict[str, float]:
        """Metric name -> value, as logged to a tracking server."""
        values = {"accuracy": self.accuracy, "f1_macro": self.macro_f1}
        for label, m in self.per_class.items():
            values[f"precision_{label}"] = m.precision
            values[f"recall_{label}"] = m.recall
            values[f"f1_{label}"] = m.f1
        return values

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, with the confusion matrix and its labels."""
        return {
            "accuracy": self.accuracy,
            "f1_macro": self.macro_f1,
            "support": self.support,
            "per_class": {
                label: {
                    "precision": m.precision,
                    "recall": m.recall,
                    "f1": m.f1,
                    "support": m.support,
                }
                for label, m in self.per_class.items()
            },
            "confusion_matrix": {
                "labels": list(self.labels),
                "matrix": [list(row) for row in self.confusion_matrix],
            },
        }


def _ratio(numerator: int, denominator: int) -> float:
    # sklearn's zero_division default ("warn") yields 0.0.
    return numerator / denominator if denominator else 0.0


def evaluate(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> EvaluationMetrics:
    """Score predictions against the truth.

    `labels` fixes the classes and their order; by default it is every label seen in either
    sequence, sorted. Macro-F1 averages over those labels, as `sklearn.metrics.f1_score` does;
    a prediction outside them counts as a miss of its true label, as there.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("cannot evaluate zero predictions")
    order = tuple(labels) if labels is not None else tuple(sorted(set(y_true) | set(y_pred)))
    index = {label: i for i, label in enumerate(order)}
    size = len(order)
    matrix = [[0] * size for _ in range(size)]
    for truth, guess in zip(y_true, y_pred, strict=True):
        if truth in index and guess in index:
            matrix[index[truth]][index[guess]] += 1

    # Counted over every example, as sklearn does: a prediction outside `labels` (a model that
    # knows a class the data lacks) is still a miss of its true label, and the confusion matrix,
    # which has no row or column for it, cannot say so.
    true_counts = Counter(y_true)
    predicted_counts = Counter(y_pred)
    per_class: dict[str, ClassMetrics] = {}
    for i, label in enumerate(order):
        tp = matrix[i][i]
        predicted = predicted_counts[label]
        actual = true_counts[label]
        precision = _ratio(tp, predicted)
        recall = _ratio(tp, actual)
        f1 = _ratio(2 * tp, predicted + actual)
        per_class[label] = ClassMetrics(precision, recall, f1, actual)

    correct = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p)
    macro_f1 = sum(m.f1 for m in per_class.values()) / size if size else 0.0
    return EvaluationMetrics(
        labels=order,
        accuracy=correct / len(y_true),
        macro_f1=macro_f1,
        per_class=per_class,
        confusion_matrix=tuple(tuple(row) for row in matrix),
    )
