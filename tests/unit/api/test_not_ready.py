"""With the registry empty or unreachable the app starts, says why it is not ready, retries in
the background and becomes ready by itself."""

from __future__ import annotations

import logging
import re
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.ports import Classifier
from sentiment.entrypoints.api import schemas
from tests.support.api import (
    MARKER,
    AppFactory,
    FixedClassifier,
    SwitchableRegistry,
    assert_error,
)
from tests.support.registry_fakes import FailingRegistry


def wait_until_ready(client: TestClient, timeout_s: float = 10.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response: httpx.Response = client.get("/ready")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def assert_not_ready(client: TestClient, reason: str) -> None:
    assert client.get("/health").status_code == 200
    for response in (
        client.get("/ready"),
        client.get("/model"),
        client.post("/predict", json={"text": "a fine film"}),
        client.post("/predict/batch", json={"texts": ["a fine film"]}),
        client.post("/invocations", json={"inputs": ["a fine film"]}),
    ):
        error = assert_error(response, 503, "model_not_ready")
        assert reason in error["message"], error
        assert int(response.headers["retry-after"]) >= 1


def test_an_empty_registry_starts_not_ready_then_serves_what_gets_registered(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sentiment.api")
    registry = InMemoryModelRegistry()
    with TestClient(make_app(registry)) as client:
        assert_not_ready(client, "no registered version yet")

        registry.add(classifier)

        response = wait_until_ready(client)
        assert response.status_code == 200, response.text
        assert client.post("/predict", json={"text": "a fine film"}).status_code == 200
        info = client.get("/model").json()
        assert (info["version"], info["resolved_by"]) == ("1", "latest")
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("serving ")]
    assert len(logged) == 1
    assert re.fullmatch(
        rf"serving {registry.model_name} version 1 \(resolved by latest\), loaded in "
        r"\d+\.\d\d s, after \d+ failed attempt\(s\)",
        logged[0],
    ), logged


def test_an_unreachable_registry_starts_not_ready_then_recovers(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sentiment.api")
    registry = SwitchableRegistry(down=True)
    registry.inner.add(classifier)
    registry.inner.set_alias("champion", "1")
    with TestClient(make_app(registry)) as client:
        assert_not_ready(client, "switched off")
        metrics = client.get("/metrics").text
        assert 'sentiment_model_loads_total{outcome="failure"}' in metrics
        assert 'sentiment_model_load_failures_total{error="RegistryUnavailableError"}' in metrics
        assert "sentiment_model_ready 0.0" in metrics

        registry.down = False

        assert wait_until_ready(client).status_code == 200
        assert client.get("/model").json()["alias"] == "champion"
        failed = sum(r.getMessage().startswith("model load failed") for r in caplog.records)
        assert failed >= 1
        (logged,) = [r for r in caplog.records if r.getMessage().startswith("serving ")]
        assert re.fullmatch(
            rf"serving {registry.model_name} version 1 \(@champion\), loaded in \d+\.\d\d s, "
            rf"after {failed} failed attempt\(s\)",
            logged.getMessage(),
        ), logged.getMessage()
        metrics = client.get("/metrics").text
        assert 'sentiment_model_loads_total{outcome="success"} 1.0' in metrics
        assert "sentiment_model_ready 1.0" in metrics


def test_retries_back_off(make_app: AppFactory) -> None:
    registry = SwitchableRegistry(down=True)
    with TestClient(
        make_app(registry, load_retry_initial_s=0.05, load_retry_max_s=0.4, startup_wait_s=1)
    ) as client:
        time.sleep(1.0)
        calls = registry.calls
        error = client.get("/ready").json()["error"]
    # Delays 0.05, 0.1, 0.2, 0.4, 0.4... (+-10%): about 5 attempts in a second, never 20.
    assert 3 <= calls <= 9, calls
    assert "retrying within" in error["message"]


def test_a_model_that_fails_its_smoke_test_is_never_served(make_app: AppFactory) -> None:
    registry = InMemoryModelRegistry()
    registry.add(FixedClassifier({"negative": 0.9, "positive": 0.9}))
    with TestClient(make_app(registry)) as client:
        assert_not_ready(client, "failed its smoke test")


class SlowToLoad(InMemoryModelRegistry):
    """Loading a version takes `delay_s`."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def load(self, version: str) -> Classifier:
        time.sleep(self.delay_s)
        return super().load(version)


def test_startup_waits_for_a_first_load_that_ends_within_the_wait(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    registry = SlowToLoad(delay_s=0.3)
    registry.add(classifier)
    with TestClient(make_app(registry, startup_wait_s=0.9)) as client:  # below a second too
        response = client.get("/ready")  # the first request: the model is in
        assert response.status_code == 200, response.text


def test_startup_stops_waiting_once_the_first_load_has_failed(make_app: AppFactory) -> None:
    started = time.monotonic()
    with TestClient(make_app(SwitchableRegistry(down=True), startup_wait_s=20)) as client:
        assert time.monotonic() - started < 10  # the first attempt ended: no need to wait on
        assert_not_ready(client, "switched off")


def test_startup_does_not_wait_for_a_registry_that_hangs(make_app: AppFactory) -> None:
    class Hanging(SwitchableRegistry):
        def _check(self) -> None:
            time.sleep(30)

    earlier = set(threading.enumerate())
    started = time.monotonic()
    with TestClient(make_app(Hanging(down=False), startup_wait_s=0.3)) as client:
        assert time.monotonic() - started < 5
        assert client.get("/health").status_code == 200
        error = client.get("/ready").json()["error"]
        assert "first load is in progress" in error["message"]
        # The hung load's thread is a daemon: it never holds up the process's exit either.
        loading = [
            t for t in set(threading.enumerate()) - earlier if t.name == "sentiment-model-load"
        ]
        assert loading
        assert all(t.daemon for t in loading)
    assert time.monotonic() - started < 10  # nor does shutdown


@pytest.mark.parametrize("route", ["/predict", "/predict/batch", "/invocations"])
def test_openapi_documents_503(client: TestClient, route: str) -> None:
    responses = client.get("/openapi.json").json()["paths"][route]["post"]["responses"]
    assert responses["503"]["content"]["application/json"]["schema"]["$ref"].endswith(
        schemas.ErrorResponse.__name__
    )


def test_retry_after_is_the_next_attempt_rounded_up_to_whole_seconds(make_app: AppFactory) -> None:
    # The next attempt is due 4.5 s after the failure, less up to 10 % jitter (a delay never
    # exceeds the maximum): 4.05 to 4.5 s, which rounds up to 5 (and down or to nearest, to 4).
    registry = SwitchableRegistry(down=True)
    with TestClient(make_app(registry, load_retry_initial_s=4.5, load_retry_max_s=4.5)) as client:
        for response in (
            client.get("/ready"),
            client.post("/predict", json={"text": "a fine film"}),
        ):
            error = assert_error(response, 503, "model_not_ready")
            assert re.search(r"retrying within 4\.[0-5] s", error["message"]), error
            assert response.headers["retry-after"] == "5"


class Blocked(SwitchableRegistry):
    """Every call waits until `release` is set."""

    def __init__(self) -> None:
        super().__init__(down=False)
        self.release = threading.Event()

    def _check(self) -> None:
        self.release.wait(30)
        super()._check()


def test_retry_after_is_one_second_when_no_attempt_is_scheduled(make_app: AppFactory) -> None:
    registry = Blocked()
    try:
        with TestClient(make_app(registry, startup_wait_s=0.1)) as client:
            response = client.get("/ready")  # the first load has not ended: no retry is due
            error = assert_error(response, 503, "model_not_ready")
            assert "first load is in progress" in error["message"]
            assert response.headers["retry-after"] == "1"
    finally:
        registry.release.set()


def test_retry_after_is_one_second_for_an_unreachable_registry_on_reload(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    registry = SwitchableRegistry(down=False)
    registry.inner.add(classifier)
    token = "s3cret-admin-token-for-tests"
    with TestClient(make_app(registry, admin_token=token)) as client:
        registry.down = True
        response = client.post("/admin/reload", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 503, "registry_unavailable")  # the error carries no estimate
        assert response.headers["retry-after"] == "1"


def test_an_unexpected_error_while_loading_is_logged_and_never_shown(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    registry = FailingRegistry()
    registry.add(classifier)
    registry.load_error = RuntimeError(f"secret internals {MARKER}")
    with TestClient(make_app(registry)) as client:
        for response in (client.get("/ready"), client.get("/model")):
            error = assert_error(response, 503, "model_not_ready")
            assert "unexpected RuntimeError while loading (see the server log)" in error["message"]
            assert "secret" not in response.text
        metrics = client.get("/metrics").text
        assert 'sentiment_model_load_failures_total{error="RuntimeError"}' in metrics
    logged = [r for r in caplog.records if "model load failed (attempt 1)" in r.getMessage()]
    assert logged, caplog.text
    assert logged[0].getMessage() == "model load failed (attempt 1) unexpectedly"
    assert logged[0].exc_info is not None
    assert str(logged[0].exc_info[1]) == f"secret internals {MARKER}"
