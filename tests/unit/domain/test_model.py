from __future__ import annotations

import pytest

from sentiment.domain.errors import DatasetError, SentimentError
from sentiment.domain.model import LabelledDataset, Prediction


def test_dataset_refuses_texts_and_labels_of_different_lengths() -> None:
    with pytest.raises(DatasetError, match="3 texts but 2 labels"):
        LabelledDataset(texts=("a", "b", "c"), labels=("x", "y"))


def test_dataset_errors_are_sentiment_errors() -> None:
    with pytest.raises(SentimentError):
        LabelledDataset(texts=("a",), labels=())


def test_dataset_length_classes_and_counts() -> None:
    dataset = LabelledDataset(
        texts=("a", "b", "c", "d", "e"), labels=("pos", "neg", "pos", "neutral", "pos")
    )
    assert len(dataset) == 5
    assert dataset.classes == ("neg", "neutral", "pos")
    counts = dataset.class_counts()
    assert counts == {"neg": 1, "neutral": 1, "pos": 3}
    assert list(counts) == ["neg", "neutral", "pos"]


def test_empty_dataset_has_no_classes() -> None:
    dataset = LabelledDataset(texts=(), labels=())
    assert len(dataset) == 0
    assert dataset.classes == ()
    assert dataset.class_counts() == {}


def test_dataset_is_immutable() -> None:
    dataset = LabelledDataset(texts=("a",), labels=("x",))
    with pytest.raises(AttributeError):
        dataset.texts = ("b",)  # type: ignore[misc]


def test_prediction_confidence_is_the_probability_of_its_label() -> None:
    prediction = Prediction("positive", {"negative": 0.25, "positive": 0.75})
    assert prediction.confidence == 0.75
