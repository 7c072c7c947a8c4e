from __future__ import annotations

import pytest

from sentiment.application.predict import Predict, PredictCommand
from sentiment.domain.errors import InvalidInputError, NotFittedError
from tests.support.port_fakes import KeywordClassifier, polar_rows


@pytest.fixture(scope="module")
def classifier() -> KeywordClassifier:
    classifier = KeywordClassifier()
    rows = polar_rows(5)
    classifier.fit([t for t, _ in rows], [lbl for _, lbl in rows])
    return classifier


def test_predicts_one_text(classifier: KeywordClassifier) -> None:
    result = Predict(classifier).execute(PredictCommand(("a great film",)))
    [prediction] = result.predictions
    assert prediction.label == "positive"
    assert set(prediction.probabilities) == {"negative", "positive"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert prediction.confidence > 0.5


def test_predicts_many_texts_in_order(classifier: KeywordClassifier) -> None:
    texts = ("wonderful", "boring and awful", "great great", "awful")
    result = Predict(classifier).execute(PredictCommand(texts))
    assert [p.label for p in result.predictions] == ["positive", "negative", "positive", "negative"]


def test_no_texts_is_invalid(classifier: KeywordClassifier) -> None:
    with pytest.raises(InvalidInputError, match="no texts"):
        Predict(classifier).execute(PredictCommand(()))


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_a_blank_text_is_refused_by_position(classifier: KeywordClassifier, blank: str) -> None:
    with pytest.raises(InvalidInputError, match="text 1 is empty"):
        Predict(classifier).execute(PredictCommand(("fine", blank, "also fine")))


def test_an_unfitted_classifier_raises_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        Predict(KeywordClassifier()).execute(PredictCommand(("text",)))
