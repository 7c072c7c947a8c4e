"""Live reload in the API: it follows the alias; a broken new version never serves; the admin
route forces a check, needs the bearer token, and does not exist without one."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import RegistryError, RegistryUnavailableError
from sentiment.entrypoints.api.errors import INTERNAL_MESSAGE
from tests.support.api import (
    MARKER,
    AppFactory,
    FixedClassifier,
    SwitchableRegistry,
    assert_error,
)
from tests.support.registry_fakes import BrokenArtifactRegistry, FailingRegistry

TOKEN = "s3cret-admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def served_version(client: TestClient) -> str:
    return str(client.post("/predict", json={"text": "a fine film"}).json()["model"]["version"])


def wait_for(client: TestClient, version: str, timeout_s: float = 10.0) -> float:
    started = time.monotonic()
    while served_version(client) != version:
        assert time.monotonic() - started < timeout_s, client.get("/model").json()
        time.sleep(0.02)
    return time.monotonic() - started


def two_versions(classifier: SklearnClassifier, registry: InMemoryModelRegistry) -> None:
    registry.add(classifier, {"f1_macro": 0.8})
    registry.set_alias("champion", "1")
    registry.add(FixedClassifier(), {"f1_macro": 0.9})


def test_the_api_follows_the_alias_by_itself(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    registry = InMemoryModelRegistry()
    two_versions(classifier, registry)
    with TestClient(make_app(registry, reload_interval_s=0.05)) as client:
        assert served_version(client) == "1"
        registry.set_alias("champion", "2")
        wait_for(client, "2")
        info = client.get("/model").json()
        assert (info["version"], info["alias"]) == ("2", "champion")
        assert info["reload"]["interval_s"] == 0.05
        assert info["reload"]["checks"] >= 1
        metrics = client.get("/metrics").text
        assert 'sentiment_model_reload_checks_total{outcome="swapped"} 1.0' in metrics
        assert 'sentiment_model_info{alias="champion",name="SentimentAnalysisModel"' in metrics
        assert 'resolved_by="alias",version="2"} 1.0' in metrics
        # One series: the version served now (not the one it replaced).
        served = [line for line in metrics.splitlines() if line.startswith("sentiment_model_info{")]
        assert len(served) == 1


def test_a_broken_new_version_never_serves_and_everybody_says_so(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    registry = BrokenArtifactRegistry()
    two_versions(classifier, registry)
    registry.broken.add("2")
    with TestClient(make_app(registry, reload_interval_s=0, admin_token=TOKEN)) as client:
        registry.set_alias("champion", "2")
        response = client.post("/admin/reload", headers=AUTH)
        error = assert_error(response, 503, "model_load_failed")
        assert "version 2 is not served (still serving version 1)" in error["message"]
        assert served_version(client) == "1"
        info = client.get("/model").json()
        assert info["version"] == "1"
        assert info["last_load_failure"]["error_type"] == "ModelLoadError"
        assert "artifacts are missing" in info["last_load_failure"]["message"]
        assert info["reload"]["last_outcome"] == "load_failed"
        metrics = client.get("/metrics").text
        assert 'sentiment_model_load_failures_total{error="ModelLoadError"} 1.0' in metrics
        assert 'sentiment_model_loads_total{outcome="failure"} 1.0' in metrics
        assert 'sentiment_model_reload_checks_total{outcome="load_failed"} 1.0' in metrics
        assert any("version 2 is not served" in r.getMessage() for r in caplog.records)

        registry.broken.clear()  # the artifact is restored: the next forced check serves it
        body = client.post("/admin/reload", headers=AUTH).json()
        assert (body["outcome"], body["serving"], body["previous"]) == ("swapped", "2", "1")
        assert client.get("/model").json()["last_load_failure"] is None


def test_the_periodic_checks_wait_out_a_broken_version_s_backoff(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    # Only POST /admin/reload forces a retry; a check every 50 ms must not reload the broken
    # version 2 each time (its next attempt is 30 s away).
    registry = BrokenArtifactRegistry()
    two_versions(classifier, registry)
    registry.broken.add("2")
    settings = {"reload_interval_s": 0.05, "load_retry_initial_s": 30, "load_retry_max_s": 30}
    with TestClient(make_app(registry, **settings)) as client:
        registry.set_alias("champion", "2")
        deadline = time.monotonic() + 10
        while client.get("/model").json()["reload"]["checks"] < 5:
            assert time.monotonic() < deadline, client.get("/model").json()
            time.sleep(0.02)
        assert client.get("/model").json()["reload"]["last_outcome"] == "skipped"
        assert served_version(client) == "1"
        metrics = client.get("/metrics").text
    assert 'sentiment_model_reload_checks_total{outcome="load_failed"} 1.0' in metrics
    assert 'sentiment_model_load_failures_total{error="ModelLoadError"} 1.0' in metrics


def test_an_unreachable_registry_during_checks_keeps_serving_and_recovers(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    inner = InMemoryModelRegistry()
    two_versions(classifier, inner)
    registry = SwitchableRegistry(inner, down=False)
    with TestClient(make_app(registry, reload_interval_s=0.05, admin_token=TOKEN)) as client:
        registry.down = True
        inner.set_alias("champion", "2")
        calls = registry.calls
        deadline = time.monotonic() + 5
        while registry.calls < calls + 3:  # a few periodic checks fail
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert served_version(client) == "1"
        assert client.get("/ready").status_code == 200
        assert client.get("/model").json()["reload"]["last_outcome"] == "unreachable"
        assert_error(client.post("/admin/reload", headers=AUTH), 503, "registry_unavailable")
        assert 'outcome="unreachable"' in client.get("/metrics").text
        warned = [r for r in caplog.records if r.getMessage().startswith("reload check failed")]
        assert warned
        assert {(r.levelname, r.getMessage()) for r in warned} == {
            ("WARNING", "reload check failed, still serving: the test registry is switched off")
        }

        registry.down = False
        wait_for(client, "2")


class Refusing(SwitchableRegistry):
    """While down, every call raises `error`."""

    def __init__(self, inner: InMemoryModelRegistry, error: Exception) -> None:
        super().__init__(inner, down=False)
        self.error = error

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise self.error


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (RegistryUnavailableError("the registry\n   is away "), "the registry is away"),
        (RegistryUnavailableError(), "RegistryUnavailableError"),
    ],
    ids=["lines", "empty"],
)
def test_a_failed_check_is_described_on_one_line(
    make_app: AppFactory, classifier: SklearnClassifier, error: Exception, described: str
) -> None:
    inner = InMemoryModelRegistry()
    two_versions(classifier, inner)
    registry = Refusing(inner, error)
    with TestClient(make_app(registry, reload_interval_s=0, admin_token=TOKEN)) as client:
        registry.down = True
        assert client.post("/admin/reload", headers=AUTH).status_code == 503
        reload = client.get("/model").json()["reload"]
    assert (reload["last_outcome"], reload["last_message"]) == ("unreachable", described)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
def test_the_admin_route_needs_the_token(
    make_app: AppFactory, registry: InMemoryModelRegistry, headers: dict[str, str]
) -> None:
    with TestClient(make_app(registry, admin_token=TOKEN)) as client:
        response = client.post("/admin/reload", headers=headers)
        error = assert_error(response, 401, "unauthorized")
        assert TOKEN not in str(error)
        assert response.headers["www-authenticate"].startswith("Bearer")
        ok = client.post("/admin/reload", headers={"authorization": f"bearer {TOKEN}"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["outcome"] == "unchanged"


def test_without_a_token_the_admin_route_does_not_exist(
    make_app: AppFactory, registry: InMemoryModelRegistry
) -> None:
    with TestClient(make_app(registry)) as client:
        assert_error(client.post("/admin/reload", headers=AUTH), 404, "not_found")
        assert "/admin/reload" not in client.get("/openapi.json").json()["paths"]
    with TestClient(make_app(registry, admin_token=TOKEN)) as client:
        assert "/admin/reload" in client.get("/openapi.json").json()["paths"]


def test_a_short_token_is_refused_at_configuration() -> None:
    from pydantic import ValidationError

    from sentiment.entrypoints.settings import Settings

    with pytest.raises(ValidationError, match="admin_token"):
        Settings(admin_token="short")
    assert Settings(admin_token="  ").admin_token is None
    assert TOKEN not in repr(Settings(admin_token=TOKEN))


def test_a_reload_leaves_the_model_it_replaced_intact(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    # A request that read the served model before the swap keeps a working model (a request
    # really in flight across a swap: test_operations.py).
    registry = InMemoryModelRegistry()
    two_versions(classifier, registry)
    with TestClient(make_app(registry, admin_token=TOKEN)) as client:
        held = client.app.state.sentiment.served.current  # type: ignore[attr-defined]
        registry.set_alias("champion", "2")
        assert client.post("/admin/reload", headers=AUTH).json()["serving"] == "2"
        # The object a request read before the swap is intact and still answers.
        assert held.version == "1"
        assert held.classifier.predict(["a fine film"])[0].label in ("negative", "positive")
        responses = [client.post("/predict", json={"text": "a fine film"}) for _ in range(3)]
        assert {r.json()["model"]["version"] for r in responses} == {"2"}


def test_the_admin_answer_says_what_it_found_and_when_as_model_does(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    registry = InMemoryModelRegistry()
    two_versions(classifier, registry)
    with TestClient(make_app(registry, reload_interval_s=0, admin_token=TOKEN)) as client:
        assert client.get("/model").json()["reload"]["last_check_at"] is None  # no check yet
        registry.set_alias("champion", "2")
        swapped = client.post("/admin/reload", headers=AUTH).json()
        after_swap = client.get("/model").json()["reload"]
        unchanged = client.post("/admin/reload", headers=AUTH).json()
        after_unchanged = client.get("/model").json()["reload"]
        metrics = client.get("/metrics").text
    assert (swapped["outcome"], swapped["serving"], swapped["previous"]) == ("swapped", "2", "1")
    assert swapped["candidate"] == "2"
    assert swapped["message"].startswith("serving version 2 instead of version 1, loaded")
    assert unchanged == {
        "outcome": "unchanged",
        "message": "still version 2",
        "serving": "2",
        "previous": "2",
        "candidate": "2",
        "checked_at": after_unchanged["last_check_at"],
    }
    # The check's time, as /model reports it: ISO 8601 in UTC, later for the later check.
    assert swapped["checked_at"] == after_swap["last_check_at"]
    first, second = (
        datetime.fromisoformat(t) for t in (swapped["checked_at"], unchanged["checked_at"])
    )
    assert swapped["checked_at"].endswith("Z")
    assert first <= second
    assert after_unchanged["checks"] == 2
    (last_check,) = [
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("sentiment_model_reload_last_check_timestamp_seconds ")
    ]
    assert abs(second.timestamp() - last_check) < 0.001  # the metric has the same time


def test_a_pinned_version_that_does_not_exist_is_a_404_on_reload(
    make_app: AppFactory, registry: InMemoryModelRegistry
) -> None:
    with TestClient(make_app(registry, model_version="9", admin_token=TOKEN)) as client:
        not_ready = assert_error(client.get("/ready"), 503, "model_not_ready")
        assert "has no version 9" in not_ready["message"]
        response = client.post("/admin/reload", headers=AUTH)
        error = assert_error(response, 404, "model_not_found")
        assert error["message"] == "SentimentAnalysisModel has no version 9"
        assert error["details"] == []
        assert "retry-after" not in response.headers
        assert client.get("/model").json()["error"]["code"] == "model_not_ready"


def test_openapi_lists_every_status_the_admin_route_answers(
    make_app: AppFactory, registry: InMemoryModelRegistry
) -> None:
    with TestClient(make_app(registry, admin_token=TOKEN)) as client:
        spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/admin/reload"]["post"]["responses"]
    # 401 no or wrong token; 404 a pinned version that does not exist; 500 an unexpected error;
    # 503 registry unreachable, or the new version failed to load.
    assert set(responses) == {"200", "401", "404", "500", "503"}
    for status in ("401", "404", "500", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, status
    # The route's own meanings, not the prediction routes' ("no model is loaded yet").
    assert "model_not_found" in responses["404"]["description"]
    assert "model_load_failed" in responses["503"]["description"]


def serving_one(classifier: SklearnClassifier) -> FailingRegistry:
    registry = FailingRegistry()
    registry.add(classifier)
    registry.set_alias("champion", "1")
    return registry


def test_an_unexpected_error_during_a_check_is_a_500_the_log_explains(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    registry = serving_one(classifier)
    with TestClient(make_app(registry, admin_token=TOKEN)) as client:
        registry.resolve_error = RuntimeError(f"secret internals {MARKER}")
        response = client.post("/admin/reload", headers={**AUTH, "X-Request-ID": "trace-500"})
        error = assert_error(response, 500, "internal_error")
        assert (error["message"], error["request_id"]) == (INTERNAL_MESSAGE, "trace-500")
        assert "secret" not in response.text
        assert served_version(client) == "1"  # the served model stays
        assert client.get("/model").json()["reload"]["last_outcome"] == "unreachable"
    (check,) = [r for r in caplog.records if r.getMessage().startswith("reload check failed")]
    assert check.getMessage() == "reload check failed unexpectedly, still serving"
    assert check.exc_info is not None
    assert str(check.exc_info[1]) == f"secret internals {MARKER}"
    (unhandled,) = [r for r in caplog.records if "trace-500" in r.getMessage()]
    assert unhandled.getMessage() == "unhandled error on POST /admin/reload (request id trace-500)"
    assert unhandled.exc_info is not None
    assert unhandled.exc_info[0] is RuntimeError


def test_a_plain_registry_error_is_a_500_with_its_message_only_in_the_log(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    # A RegistryError that is none of its subclasses (as the MLflow adapter raises for a 403)
    # maps through SentimentError: 500, its message hidden.
    registry = serving_one(classifier)
    text = f"MLflow answered 403 Forbidden for {MARKER}"
    with TestClient(make_app(registry, admin_token=TOKEN)) as client:
        registry.resolve_error = RegistryError(text)
        response = client.post("/admin/reload", headers={**AUTH, "X-Request-ID": "trace-403"})
        error = assert_error(response, 500, "internal_error")
        assert (error["message"], error["request_id"]) == (INTERNAL_MESSAGE, "trace-403")
        assert error["details"] == []
        assert "Forbidden" not in response.text
        assert "retry-after" not in response.headers
        assert served_version(client) == "1"
    (logged,) = [r for r in caplog.records if "trace-403" in r.getMessage()]
    assert logged.getMessage() == "internal_error on POST /admin/reload (request id trace-403)"
    assert logged.levelname == "ERROR"
    assert logged.exc_info is not None
    assert str(logged.exc_info[1]) == text


def test_what_an_unexpected_error_says_during_a_reload_stays_in_the_log(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    secret = RuntimeError(f"secret internals {MARKER}")
    registry = serving_one(classifier)
    with TestClient(make_app(registry, admin_token=TOKEN)) as client:
        registry.resolve_error = secret  # the check itself fails
        assert_error(client.post("/admin/reload", headers=AUTH), 500, "internal_error")
        model = client.get("/model")
        assert model.json()["reload"]["last_message"] == (
            "unexpected RuntimeError (see the server log)"
        )
        registry.resolve_error = None
        registry.add(classifier)
        registry.set_alias("champion", "2")
        registry.load_error = secret  # the new version fails to load
        error = assert_error(client.post("/admin/reload", headers=AUTH), 503, "model_load_failed")
        assert error["message"] == (
            "version 2 is not served (still serving version 1): "
            "unexpected RuntimeError while loading (see the server log)"
        )
        model = client.get("/model")
        assert model.json()["last_load_failure"]["error_type"] == "RuntimeError"
        for text in (model.text, client.get("/metrics").text):
            assert "secret" not in text
    (logged,) = [r for r in caplog.records if r.getMessage().startswith("reload: version 2")]
    assert logged.exc_info is not None
    assert logged.exc_info[1] is secret


def test_an_unexpected_error_of_a_forced_load_never_shows_on_ready(
    make_app: AppFactory, classifier: SklearnClassifier
) -> None:
    # Nothing served yet: the failure of the forced load is the reason /ready (open to all) gives.
    registry = FailingRegistry()
    registry.add(classifier)
    registry.load_error = RuntimeError(f"secret internals {MARKER}")
    slow_retries = {"load_retry_initial_s": 30.0, "load_retry_max_s": 30.0}
    with TestClient(make_app(registry, admin_token=TOKEN, **slow_retries)) as client:
        error = assert_error(client.post("/admin/reload", headers=AUTH), 503, "model_load_failed")
        assert "version 1 is not served (nothing is served)" in error["message"]
        response = client.get("/ready")
        error = assert_error(response, 503, "model_not_ready")
        reason = "version 1 is not served (nothing is served): unexpected RuntimeError"
        assert reason in error["message"]
        assert "secret" not in response.text


def test_what_a_model_says_when_it_crashes_on_its_smoke_test_stays_in_the_log(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    crash = RuntimeError(f"secret internals {MARKER}")
    fixed = "unexpected RuntimeError from the model (see the server log)"
    # At startup: nothing is served, /ready (open to all) gives the reason.
    registry = InMemoryModelRegistry()
    registry.add(FixedClassifier(error=crash))
    slow_retries = {"load_retry_initial_s": 30.0, "load_retry_max_s": 30.0}
    with TestClient(make_app(registry, admin_token=TOKEN, **slow_retries)) as client:
        ready = client.get("/ready")
        error = assert_error(ready, 503, "model_not_ready")
        assert f"version 1 failed its smoke test: {fixed}" in error["message"]
        model = client.get("/model")
        assert model.json()["error"]["message"] == error["message"]
        for response in (ready, model, client.get("/metrics")):
            assert "secret" not in response.text
    (at_start,) = [r for r in caplog.records if r.getMessage().startswith("model load failed")]
    assert at_start.exc_info is not None
    assert at_start.exc_info[1] is not None
    assert at_start.exc_info[1].__cause__ is crash
    caplog.clear()

    # At a reload: the new version is refused, the old one stays.
    registry = serving_one(classifier)
    with TestClient(make_app(registry, admin_token=TOKEN)) as client:
        registry.add(FixedClassifier(error=crash))
        registry.set_alias("champion", "2")
        response = client.post("/admin/reload", headers=AUTH)
        error = assert_error(response, 503, "model_load_failed")
        assert error["message"] == (
            "version 2 is not served (still serving version 1): "
            f"SentimentAnalysisModel version 2 failed its smoke test: {fixed}"
        )
        model = client.get("/model")
        assert model.json()["reload"]["last_message"] == error["message"]
        assert model.json()["last_load_failure"]["message"] == error["message"]
        for text in (response.text, model.text, client.get("/ready").text):
            assert "secret" not in text
        assert served_version(client) == "1"
    (at_reload,) = [r for r in caplog.records if r.getMessage().startswith("reload: version 2")]
    assert at_reload.exc_info is not None
    assert at_reload.exc_info[1] is not None
    assert at_reload.exc_info[1].__cause__ is crash
