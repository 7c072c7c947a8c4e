"""Apps for tests that need real uvicorn and a model that misbehaves on purpose.

    uvicorn --factory tests.support.asgi_apps:misbehaving_app

builds the real app (`create_app`, the process set up as `sentiment.entrypoints.api:app` does)
over an in-memory registry whose version 1 is the small test model wrapped so that:

- a text containing `SLOW_TRIGGER` takes `SENTIMENT_TEST_SLOW_S` seconds (default 3) to classify,
  after touching the file `SENTIMENT_TEST_STARTED_FILE` (when set), so a test knows it is in flight;
- a text containing `FAIL_TRIGGER` makes the model raise an error whose message quotes the text,
  as a careless library might (the server must answer 500 without it, and log it without it).

Everything else is classified normally. Other `SENTIMENT_*` settings apply as usual.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from fastapi import FastAPI

from sentiment.domain.model import ParamValue, Prediction
from sentiment.domain.ports import Classifier
from sentiment.entrypoints.api import create_app, prepare_process
from tests.support.api import memory_container, registry_with, small_classifier

SLOW_TRIGGER = "SLOWxTRIGGER"
FAIL_TRIGGER = "FAILxTRIGGER"


class MisbehavingClassifier(Classifier):
    def __init__(self, inner: Classifier, slow_s: float, started: Path | None) -> None:
        self._inner = inner
        self._slow_s = slow_s
        self._started = started

    @property
    def model_type(self) -> str:
        return self._inner.model_type

    @property
    def classes(self) -> tuple[str, ...]:
        return self._inner.classes

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        return self._inner.hyperparameters()

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        raise NotImplementedError("a served model is never refitted")

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        for text in texts:
            if FAIL_TRIGGER in text:
                raise ValueError(f"could not classify {text!r}")
        if any(SLOW_TRIGGER in text for text in texts):
            if self._started is not None:
                self._started.touch()
            time.sleep(self._slow_s)
        return self._inner.predict(texts)


def misbehaving_app() -> FastAPI:
    prepare_process()
    started = os.environ.get("SENTIMENT_TEST_STARTED_FILE")
    classifier = MisbehavingClassifier(
        small_classifier(),
        float(os.environ.get("SENTIMENT_TEST_SLOW_S", "3")),
        Path(started) if started else None,
    )
    registry = registry_with(classifier)
    registry.set_alias("champion", "1")
    return create_app(memory_container(registry))
