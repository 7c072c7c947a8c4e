"""Micro-batching in the API: models across swaps, errors, and concurrent /predict requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.application.load_model import LoadedModel, LoadModelCommand
from sentiment.domain.errors import ClassifierError
from sentiment.domain.model import ModelVersion, Prediction
from sentiment.entrypoints.api.errors import INTERNAL_MESSAGE
from sentiment.entrypoints.api.routes_predict import predict_texts, prediction_batcher
from tests.support.api import (
    FAST_RETRY,
    AppFactory,
    FixedClassifier,
    registry_with,
    sample_rows,
)
from tests.unit.api.test_metrics_and_openapi import samples, value
from tests.unit.application.test_batching import run

REQUESTS = "sentiment_http_requests_total"


def loaded(version: str, positive: float = 0.5, error: Exception | None = None) -> LoadedModel:
    """A loaded model whose classifier answers `positive`, or raises `error`."""
    probabilities = {"negative": 1 - positive, "positive": positive}
    return LoadedModel(
        info=ModelVersion(name="M", version=version, run_id=f"run-{version}"),
        classifier=FixedClassifier(probabilities, error=error),
        resolved_by="latest",
        alias=None,
        requested=LoadModelCommand(),
        loaded_at=0.0,
        load_seconds=0.0,
    )


def test_requests_holding_different_models_get_predictions_from_their_own_model() -> None:
    # A swap while requests wait: each request's prediction comes from the model it read.
    old, new = loaded("1", 0.9), loaded("2", 0.2)
    batcher = prediction_batcher(max_size=16, max_wait_ms=0)
    assert batcher is not None

    async def scenario() -> list[Prediction]:
        results = await asyncio.gather(
            *(batcher.submit(model, "a text") for model in (old, new, old, new))
        )
        await batcher.close()
        return list(results)

    predictions = run(scenario())
    assert [p.label for p in predictions] == ["positive", "negative"] * 2
    old_classifier, new_classifier = old.classifier, new.classifier
    assert isinstance(old_classifier, FixedClassifier)
    assert isinstance(new_classifier, FixedClassifier)
    assert old_classifier.calls >= 1
    assert new_classifier.calls >= 1


def test_a_failing_model_fails_each_request_with_its_own_error() -> None:
    broken = loaded("3", error=ClassifierError("boom"))
    batcher = prediction_batcher(max_size=16, max_wait_ms=1)
    assert batcher is not None

    async def scenario() -> list[object]:
        outcomes = await asyncio.gather(
            *(batcher.submit(broken, "x") for _ in range(3)), return_exceptions=True
        )
        await batcher.close()
        return list(outcomes)

    outcomes = run(scenario())
    assert all(isinstance(o, ClassifierError) for o in outcomes)


def test_micro_batching_is_off_below_two_and_predict_texts_uses_the_use_case() -> None:
    assert prediction_batcher(0, 2.0) is None
    assert prediction_batcher(1, 2.0) is None
    assert prediction_batcher(2, 2.0) is not None
    model = loaded("1", 0.75)
    assert [p.label for p in predict_texts(model, ["a", "b"])] == ["positive", "positive"]


def test_concurrent_predict_requests_answer_as_the_model_does_one_by_one(
    make_app: AppFactory, registry: InMemoryModelRegistry, classifier: SklearnClassifier
) -> None:
    texts = [text for text, _ in sample_rows(48, seed=3)]
    app = make_app(registry, batch_max_size=8, batch_max_wait_ms=5)
    with TestClient(app) as client, ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda t: client.post("/predict", json={"text": t}), texts))
        found = samples(client.get("/metrics").text)
    assert [r.status_code for r in responses] == [200] * len(texts)
    expected = classifier.predict(texts)
    for response, prediction in zip(responses, expected, strict=True):
        body = response.json()
        assert body["label"] == prediction.label
        assert body["probabilities"] == prediction.probabilities
        assert body["model"]["version"] == "1"
    # Every single prediction went through the batcher, in batches of at most 8.
    batches = value(found, "sentiment_microbatch_size_count")
    assert value(found, "sentiment_microbatch_size_sum") == len(texts)
    assert 1 <= batches <= len(texts)
    assert value(found, "sentiment_microbatch_size_bucket", le="8.0") == batches
    assert value(found, "sentiment_microbatch_size_bucket", le="4.0") <= batches
    assert value(found, "sentiment_microbatch_wait_seconds_count") == batches


def test_micro_batching_can_be_turned_off(
    make_app: AppFactory, registry: InMemoryModelRegistry
) -> None:
    app = make_app(registry, batch_max_size=0)
    with TestClient(app) as client:
        assert app.state.sentiment.batcher is None
        response = client.post("/predict", json={"text": "A wonderful film, I loved it!"})
        found = samples(client.get("/metrics").text)
    assert response.status_code == 200
    assert response.json()["label"] == "positive"
    assert value(found, "sentiment_microbatch_size_count") == 0


class ExitingClassifier(FixedClassifier):
    """Answers as FixedClassifier, but calls sys.exit on one text (a model with a bad habit)."""

    TRIGGER = "please exit"

    def __init__(self, always: bool = False) -> None:
        super().__init__()
        self._always = always  # also on the smoke test's probe texts

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if self._always or any(text.startswith(self.TRIGGER) for text in texts):
            raise SystemExit("exit text of the model, not for clients")
        return super().predict(texts)


def test_a_model_raising_system_exit_fails_that_request_with_a_500_and_later_ones_are_served(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    registry = registry_with(ExitingClassifier())
    app = make_app(registry, batch_max_size=8, batch_max_wait_ms=1)
    with TestClient(app, raise_server_exceptions=False) as client:
        exited = client.post("/predict", json={"text": ExitingClassifier.TRIGGER})
        later = [client.post("/predict", json={"text": f"text {i}"}) for i in range(3)]

    assert exited.status_code == 500
    error = exited.json()["error"]
    assert (error["code"], error["message"]) == ("internal_error", INTERNAL_MESSAGE)
    assert "exit text" not in exited.text
    assert [r.status_code for r in later] == [200] * 3
    assert {r.json()["label"] for r in later} == {"positive"}
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[1] is not None]
    assert any("SystemExit" in str(r.exc_info[1]) for r in logged if r.exc_info)  # the type


LONG = " and on" * 2_000  # over INLINE_CHARS: classified in a worker thread, not on the loop


@pytest.mark.parametrize(
    ("batch_max_size", "path", "body"),
    [
        (0, "/predict", {"text": ExitingClassifier.TRIGGER}),
        (0, "/predict", {"text": ExitingClassifier.TRIGGER + LONG}),
        (8, "/predict/batch", {"texts": ["fine", ExitingClassifier.TRIGGER]}),
        (8, "/predict/batch", {"texts": ["fine", ExitingClassifier.TRIGGER + LONG]}),
        (8, "/invocations", {"inputs": [ExitingClassifier.TRIGGER]}),
    ],
    ids=["inline", "threaded", "batch-inline", "batch-threaded", "invocations"],
)
def test_a_model_raising_system_exit_outside_the_batcher_is_a_500_of_ours(
    make_app: AppFactory,
    caplog: pytest.LogCaptureFixture,
    batch_max_size: int,
    path: str,
    body: dict[str, object],
) -> None:
    # Let through, a SystemExit on the event loop stops it (the server), and one from a worker
    # thread is answered by uvicorn's plain-text 500 and counted as a client that went away.
    app = make_app(registry_with(ExitingClassifier()), batch_max_size=batch_max_size)
    with TestClient(app, raise_server_exceptions=False) as client:
        exited = client.post(path, json=body)
        later = client.post("/predict", json={"text": "a fine film"})
        metrics = client.get("/metrics").text

    assert exited.status_code == 500
    error = exited.json()["error"]
    assert (error["code"], error["message"]) == ("internal_error", INTERNAL_MESSAGE)
    assert "exit text" not in exited.text
    assert later.status_code == 200
    counted = samples(metrics)
    assert value(counted, REQUESTS, route=path, method="POST", status="500") == 1
    assert value(counted, REQUESTS, route=path, method="POST", status="499") == 0
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info and r.exc_info[1] is not None]
    assert any(isinstance(e.__cause__, SystemExit) for e in logged)


def test_a_model_raising_system_exit_on_its_smoke_test_is_a_load_failure_retried(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(registry_with(ExitingClassifier(always=True)), **FAST_RETRY)
    with TestClient(app, raise_server_exceptions=False) as client:
        time.sleep(0.5)  # several attempts at FAST_RETRY's pace
        ready = client.get("/ready")
        health = client.get("/health")

    assert (ready.status_code, health.status_code) == (503, 200)
    assert "exit text" not in ready.text
    failures = [r for r in caplog.records if "model load failed" in r.getMessage()]
    assert len(failures) >= 2  # retried, not stopped
    causes = [r.exc_info[1].__cause__ if r.exc_info and r.exc_info[1] else None for r in failures]
    assert all(isinstance(cause, SystemExit) for cause in causes)
