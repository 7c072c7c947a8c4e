"""/health, /ping, /ready, /model, request ids, and errors nobody planned for."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.application.load_model import LoadedModel
from sentiment.application.serving import ServedModel
from sentiment.domain.errors import ClassifierError
from sentiment.domain.model import ModelVersion, Prediction
from sentiment.entrypoints.api import schemas
from sentiment.entrypoints.api.logs import JsonFormatter
from sentiment.entrypoints.api.routes_predict import INLINE_CHARS
from tests.support.api import MARKER, AppFactory, FixedClassifier, assert_error, http_scope


def test_health_and_ping(client: TestClient) -> None:
    for route in ("/health", "/ping"):
        response = client.get(route)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_ready_names_the_served_model(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "model": {"name": "SentimentAnalysisModel", "version": "1"},
    }


def test_model_describes_the_served_version(
    client: TestClient, registry: InMemoryModelRegistry
) -> None:
    response = client.get("/model")

    assert response.status_code == 200
    body = response.json()
    schemas.ModelInfoResponse.model_validate(body)
    version = registry.get_version("1")
    assert body["name"] == "SentimentAnalysisModel"
    assert body["version"] == "1"
    assert body["alias"] == "champion"
    assert body["resolved_by"] == "alias"
    assert body["requested"] == {"alias": "champion", "version": None}
    assert body["aliases"] == ["champion"]
    assert body["run_id"] == version.run_id
    assert body["model_type"] == "nblr"
    assert body["labels"] == ["negative", "positive"]
    assert body["metrics"] == {"accuracy": 0.81, "f1_macro": 0.8}
    assert body["dataset_digest"] == version.dataset_digest
    assert body["last_load_failure"] is None
    registered_at = datetime.fromisoformat(body["registered_at"])
    assert body["registered_at"].endswith("Z")
    assert abs(registered_at.timestamp() - version.created_at) < 0.001
    loaded_at = datetime.fromisoformat(body["loaded_at"])
    assert loaded_at.tzinfo is not None
    assert body["load_seconds"] >= 0


class UndatedRegistry(InMemoryModelRegistry):
    """Knows no registration time (MLflow with no creation_timestamp reads as 0)."""

    def get_by_alias(self, alias: str) -> ModelVersion:
        return replace(super().get_by_alias(alias), created_at=0.0)


def test_an_unknown_registration_time_is_null_not_1970(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    registry = UndatedRegistry()
    registry.add(classifier)
    registry.set_alias("champion", "1")
    with TestClient(make_app(registry)) as client:
        body = client.get("/model").json()
    assert (body["version"], body["registered_at"]) == ("1", None)


def test_the_alias_wins_and_a_pin_wins_over_the_alias(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    registry = InMemoryModelRegistry()
    for _ in range(3):
        registry.add(classifier)
    registry.set_alias("champion", "2")
    registry.set_alias("canary", "3")
    cases = [({}, "2", "alias"), ({"model_alias": "canary"}, "3", "alias")]
    cases += [({"model_alias": "nobody"}, "3", "latest"), ({"model_version": "1"}, "1", "version")]
    for settings, version, resolved_by in cases:
        with TestClient(make_app(registry, **settings)) as client:
            body = client.get("/model").json()
            assert (body["version"], body["resolved_by"]) == (version, resolved_by), settings
            prediction = client.post("/predict", json={"text": "fine"}).json()
            assert prediction["model"]["version"] == version


def test_a_sane_request_id_is_kept_and_anything_else_replaced(client: TestClient) -> None:
    kept = client.get("/health", headers={"x-request-id": "trace-42.abc:7"})
    assert kept.headers["x-request-id"] == "trace-42.abc:7"
    for bad in (MARKER + " <b>", "x" * 200, "ü"):
        replaced = client.post(
            "/predict", json={"text": ""}, headers={"x-request-id": bad.encode()}
        )
        new_id = replaced.headers["x-request-id"]
        assert new_id != bad
        assert len(new_id) == 16
        assert replaced.json()["error"]["request_id"] == new_id
    ids = {client.get("/health").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


class Breaks(FixedClassifier):
    """Passes the load-time smoke test, then fails on real requests."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self._later = error

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if self.calls >= 1:
            self.texts.append(tuple(texts))
            raise self._later
        return super().predict(texts)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RuntimeError(f"secret internals {MARKER}"), "internal_error"),
        (ClassifierError(f"sklearn said {MARKER}"), "prediction_failed"),
    ],
)
def test_unexpected_failures_are_500s_with_a_request_id_and_nothing_else(
    make_app: AppFactory, error: Exception, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = InMemoryModelRegistry()
    registry.add(Breaks(error))
    with TestClient(make_app(registry), raise_server_exceptions=False) as client:
        response = client.post("/predict", json={"text": "fine film"})
    body = assert_error(response, 500, code)
    assert "secret" not in response.text
    assert "sklearn" not in response.text
    assert body["request_id"] in caplog.text  # the details are in the server log only


def test_an_error_after_the_response_started_goes_to_the_server_and_the_log(
    make_app: AppFactory, registry: InMemoryModelRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    # The connection breaks while the body is sent: a second response cannot be sent, so the
    # error goes up to the server (which closes the connection) once it is logged.
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            raise OSError(f"connection broken {MARKER}")

    scope = http_scope("GET", "/health", [(b"x-request-id", b"trace-late")])
    with pytest.raises(OSError, match="connection broken"):
        asyncio.run(make_app(registry)(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert (b"x-request-id", b"trace-late") in sent[0]["headers"]
    (logged,) = [r for r in caplog.records if "trace-late" in r.getMessage()]
    assert logged.getMessage() == "unhandled error on GET /health (request id trace-late)"
    assert logged.name.split(".")[0] == "sentiment"  # the logger logs.py formats as JSON
    line = JsonFormatter().format(logged)
    assert json.loads(line)["request_id"] == "trace-late"
    assert MARKER not in line  # on the request path: the exception's message is not logged
    assert logged.exc_info is not None
    assert logged.exc_info[0] is OSError


def test_a_request_in_flight_finishes_on_the_model_it_started_with(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    entered, release = threading.Event(), threading.Event()

    class Slow(FixedClassifier):
        def predict(self, texts: Sequence[str]) -> list[Prediction]:
            if self.calls >= 1:  # not during the smoke test
                entered.set()
                release.wait(10)
            return super().predict(texts)

    registry = InMemoryModelRegistry()
    registry.add(Slow())
    app = make_app(registry)
    served: ServedModel = app.state.sentiment.served
    long_text = "slow " * (INLINE_CHARS // 4)  # long enough to run in a worker thread
    with TestClient(app) as client:
        old = served.require()
        answers: list[dict[str, object]] = []
        request = threading.Thread(
            target=lambda: answers.append(client.post("/predict", json={"text": long_text}).json())
        )
        request.start()
        assert entered.wait(10)
        registry.add(classifier)
        new = LoadedModel(
            info=registry.get_version("2"),
            classifier=classifier,
            resolved_by="latest",
            alias=None,
            requested=old.requested,
            loaded_at=old.loaded_at,
            load_seconds=0.0,
        )
        assert served.swap(new) is old
        after = client.post("/predict", json={"text": "fine"}).json()
        release.set()
        request.join(10)
    assert answers[0]["model"] == {"name": "SentimentAnalysisModel", "version": "1"}
    assert after["model"] == {"name": "SentimentAnalysisModel", "version": "2"}


def test_the_module_exposes_the_app_uvicorn_imports() -> None:
    import sentiment.entrypoints.api as api

    assert isinstance(api.app, FastAPI)
    assert api.app is api.app  # built once
    with pytest.raises(AttributeError):
        _ = api.no_such_thing
