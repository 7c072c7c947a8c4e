"""`evaluate` agrees with sklearn.metrics on any labels, including ones seen on one side only."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sklearn import metrics as skm

from sentiment.domain.metrics import ClassMetrics, EvaluationMetrics, evaluate

# sklearn warns that a confusion matrix of one label may not have the intended shape.
pytestmark = pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")

LABELS = ["negative", "positive", "neutral", "mixed", "0", "1"]

pairs = st.lists(st.tuples(st.sampled_from(LABELS), st.sampled_from(LABELS)), min_size=1)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def assert_matches_sklearn(
    result: EvaluationMetrics, y_true: list[str], y_pred: list[str], labels: list[str]
) -> None:
    assert list(result.labels) == labels
    assert close(result.accuracy, skm.accuracy_score(y_true, y_pred))
    assert close(
        result.macro_f1,
        skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
    )
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    assert list(result.per_class) == labels
    for i, label in enumerate(labels):
        scores = result.per_class[label]
        assert close(scores.precision, float(precision[i])), label
        assert close(scores.recall, float(recall[i])), label
        assert close(scores.f1, float(f1[i])), label
        assert scores.support == int(support[i]), label
    expected_matrix = skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert [list(row) for row in result.confusion_matrix] == expected_matrix


@given(pairs)
@example([("negative", "negative")])  # one class, all correct
@example([("negative", "positive")])  # the only true label is never predicted
@example([("negative", "positive"), ("neutral", "positive"), ("mixed", "mixed")])
def test_evaluate_equals_sklearn_with_default_labels(rows: list[tuple[str, str]]) -> None:
    y_true = [t for t, _ in rows]
    y_pred = [p for _, p in rows]
    labels = sorted(set(y_true) | set(y_pred))
    assert_matches_sklearn(evaluate(y_true, y_pred), y_true, y_pred, labels)


@given(pairs, st.lists(st.sampled_from(LABELS), min_size=1, unique=True), st.randoms())
def test_evaluate_equals_sklearn_with_explicit_labels(
    rows: list[tuple[str, str]], extra: list[str], rnd: random.Random
) -> None:
    """Labels given in any order, including ones absent from both sides."""
    y_true = [t for t, _ in rows]
    y_pred = [p for _, p in rows]
    labels = sorted(set(y_true) | set(y_pred) | set(extra))
    rnd.shuffle(labels)
    assert_matches_sklearn(evaluate(y_true, y_pred, labels=labels), y_true, y_pred, labels)


def test_a_perfect_binary_score() -> None:
    result = evaluate(["pos", "neg", "pos"], ["pos", "neg", "pos"])
    assert result.accuracy == 1.0
    assert result.macro_f1 == 1.0
    assert result.confusion_matrix == ((1, 0), (0, 2))
    assert result.support == 3


def test_three_classes_by_hand() -> None:
    y_true = ["a", "a", "b", "b", "c", "c"]
    y_pred = ["a", "b", "b", "b", "a", "c"]
    result = evaluate(y_true, y_pred)
    assert result.labels == ("a", "b", "c")
    assert result.confusion_matrix == ((1, 1, 0), (0, 2, 0), (1, 0, 1))
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.per_class["b"].precision == pytest.approx(2 / 3)
    assert result.per_class["b"].recall == 1.0
    assert result.per_class["c"].precision == 1.0
    assert result.per_class["c"].recall == 0.5


def test_a_label_never_predicted_scores_zero_without_dividing_by_zero() -> None:
    result = evaluate(["a", "b"], ["a", "a"])
    assert result.per_class["b"].precision == 0.0
    assert result.per_class["b"].recall == 0.0
    assert result.per_class["b"].f1 == 0.0
    assert result.per_class["b"].support == 1


def test_flat_names_every_metric() -> None:
    flat = evaluate(["neg", "pos"], ["neg", "neg"]).flat()
    assert set(flat) == {
        "accuracy",
        "f1_macro",
        "precision_neg",
        "recall_neg",
        "f1_neg",
        "precision_pos",
        "recall_pos",
        "f1_pos",
    }
    assert flat["accuracy"] == 0.5
    assert flat["recall_neg"] == 1.0


def test_to_dict_is_json_ready_and_complete() -> None:
    import json

    result = evaluate(["neg", "pos", "pos"], ["neg", "pos", "neg"])
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {"accuracy", "f1_macro", "support", "per_class", "confusion_matrix"}
    assert data["accuracy"] == pytest.approx(2 / 3)
    assert data["f1_macro"] == result.macro_f1
    assert data["support"] == 3
    assert data["per_class"]["pos"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert data["confusion_matrix"] == {"labels": ["neg", "pos"], "matrix": [[1, 0], [1, 1]]}


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        evaluate(["a", "b"], ["a"])


def test_nothing_to_evaluate() -> None:
    with pytest.raises(ValueError, match="zero predictions"):
        evaluate([], [])


@given(pairs, st.lists(st.sampled_from(LABELS), unique=True), st.randoms())
@example([("negative", "neutral"), ("negative", "negative")], [], random.Random(0))
def test_evaluate_equals_sklearn_when_predictions_fall_outside_the_labels(
    rows: list[tuple[str, str]], extra: list[str], rnd: random.Random
) -> None:
    """Labels that cover the truth but not every prediction (a model that knows more classes
    than the data): a prediction outside them is a miss, as in sklearn, not left uncounted."""
    y_true = [t for t, _ in rows]
    y_pred = [p for _, p in rows]
    labels = sorted(set(y_true) | set(extra))
    rnd.shuffle(labels)
    assert_matches_sklearn(evaluate(y_true, y_pred, labels=labels), y_true, y_pred, labels)


def test_a_prediction_outside_the_labels_is_a_miss() -> None:
    result = evaluate(["a", "a", "b", "b"], ["a", "c", "b", "b"], labels=["a", "b"])
    assert result.per_class["a"] == ClassMetrics(precision=1.0, recall=0.5, f1=2 / 3, support=2)
    assert result.support == 4
    assert result.accuracy == 0.75


def test_flat_names_every_per_class_score() -> None:
    metrics = evaluate(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    flat = metrics.flat()
    assert flat == {
        "accuracy": 0.75,
        "f1_macro": metrics.macro_f1,
        "precision_a": 1.0,
        "recall_a": 0.5,
        "f1_a": pytest.approx(2 / 3),
        "precision_b": pytest.approx(2 / 3),
        "recall_b": 1.0,
        "f1_b": 0.8,
    }


def test_no_labels_to_average_over_give_a_macro_f1_of_zero() -> None:
    metrics = evaluate(["a", "b"], ["a", "b"], labels=[])
    assert (metrics.macro_f1, metrics.accuracy, metrics.per_class) == (0.0, 1.0, {})
