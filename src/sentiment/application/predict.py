"""Predict: one or many texts against the classifier it was given."""

from __future__ import annotations

from dataclasses import dataclass

from sentiment.domain.errors import InvalidInputError
from sentiment.domain.model import Prediction
from sentiment.domain.ports import Classifier


@dataclass(frozen=True, slots=True)
class PredictCommand:
    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PredictResult:
    predictions: tuple[Prediction, ...]


class Predict:
    """Classify texts. Empty or whitespace-only texts are refused, never guessed at."""

    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier

    def execute(self, command: PredictCommand) -> PredictResult:
        if not command.texts:
            raise InvalidInputError("no texts to classify")
        for i, text in enumerate(command.texts):
            if not text.strip():
                raise InvalidInputError(f"text {i} is empty or whitespace only")
        return PredictResult(predictions=tuple(self._classifier.predict(command.texts)))
