"""The preload of `serve --workers N`: the app and its model are loaded once, before the workers
are forked. A forked worker serves at once, but first asks the registry whether the reference
still points at the preloaded version (a replacement worker may start long after the preload)."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.ports import Classifier
from sentiment.entrypoints.api.state import ApiState
from tests.support.api import AppFactory, FixedClassifier, SwitchableRegistry


class CountingRegistry(InMemoryModelRegistry):
    """Counts the artifact loads per version."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []

    def load(self, version: str) -> Classifier:
        self.loads.append(str(version))
        return super().load(version)


@pytest.fixture
def registry(classifier: SklearnClassifier) -> CountingRegistry:
    """Version 1 (@champion) and version 2."""
    registry = CountingRegistry()
    registry.add(classifier, {"f1_macro": 0.8})
    registry.add(FixedClassifier(), {"f1_macro": 0.9})
    registry.set_alias("champion", "1")
    return registry


def served(client: TestClient) -> str:
    response = client.post("/predict", json={"text": "a fine film"})
    assert response.status_code == 200, response.text
    return str(response.json()["model"]["version"])


def state_of(app: object) -> ApiState:
    state: ApiState = app.state.sentiment  # type: ignore[attr-defined]
    return state


def test_a_preloaded_worker_serves_without_loading_again(
    make_app: AppFactory, registry: CountingRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(registry, reload_interval_s=0)
    with caplog.at_level(logging.INFO, logger="sentiment.api"):
        loaded = state_of(app).loader.load_now()  # in the supervisor, before the fork
    assert loaded is not None
    assert loaded.version == "1"
    (logged,) = [r for r in caplog.records if r.getMessage().startswith("serving ")]
    assert re.fullmatch(
        rf"serving {registry.model_name} version 1 \(@champion\), loaded in \d+\.\d\d s, "
        "preloaded",
        logged.getMessage(),
    ), logged.getMessage()
    with TestClient(app) as client:  # a worker's startup
        assert served(client) == "1"
        model = client.get("/model").json()
        assert model["reload"]["checks"] == 1  # it did ask the registry
        assert model["reload"]["last_outcome"] == "unchanged"
        metrics = client.get("/metrics").text  # the preload's load counts in every worker
    assert 'sentiment_model_loads_total{outcome="success"} 1.0' in metrics
    assert "sentiment_model_ready 1.0" in metrics
    assert registry.loads == ["1"]  # once, by the preload


def test_a_worker_started_after_the_alias_moved_serves_the_new_version(
    make_app: AppFactory, registry: CountingRegistry
) -> None:
    app = make_app(registry, reload_interval_s=0)
    assert state_of(app).loader.load_now() is not None
    registry.set_alias("champion", "2")  # then a worker is replaced, an hour later
    with TestClient(app) as client:
        assert served(client) == "2"  # from its first request: never the stale version
        assert client.get("/model").json()["alias"] == "champion"
    assert registry.loads == ["1", "2"]


def test_a_registry_down_at_worker_start_leaves_the_preloaded_model_serving(
    make_app: AppFactory, registry: CountingRegistry
) -> None:
    switchable = SwitchableRegistry(registry, down=False)
    app = make_app(switchable, reload_interval_s=0)
    assert state_of(app).loader.load_now() is not None
    switchable.down = True
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
        assert served(client) == "1"
        assert client.get("/model").json()["reload"]["last_outcome"] == "unreachable"


def test_a_failed_preload_leaves_the_load_to_each_worker(
    make_app: AppFactory, registry: CountingRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    switchable = SwitchableRegistry(registry, down=True)
    app = make_app(switchable, reload_interval_s=0)
    with caplog.at_level(logging.WARNING, logger="sentiment.api"):
        assert state_of(app).loader.load_now() is None
    (record,) = [r for r in caplog.records if r.getMessage().startswith("preload failed")]
    assert record.name == "sentiment.api"
    assert record.getMessage() == (
        "preload failed, each worker loads on its own: the test registry is switched off"
    )
    assert record.exc_info is None  # a registry that is away is no crash: no traceback
    switchable.down = False
    with TestClient(app) as client:  # the worker's own loader, as without a preload
        assert served(client) == "1"


class GatedRegistry(CountingRegistry):
    """Loading version 2 waits until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def load(self, version: str) -> Classifier:
        if str(version) == "2":
            assert self.release.wait(10)
        return super().load(version)


def test_a_new_version_that_loads_after_the_start_wait_is_reported_everywhere(
    make_app: AppFactory, classifier: SklearnClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    # The worker stops waiting for its first check after SENTIMENT_STARTUP_WAIT_S; the check
    # goes on in its thread and swaps version 2 in. It was then served without a word: the
    # metrics still said version 1, /model counted no check, the log said nothing.
    registry = GatedRegistry()
    registry.add(classifier, {"f1_macro": 0.8})
    registry.add(FixedClassifier(), {"f1_macro": 0.9})
    registry.set_alias("champion", "1")
    app = make_app(registry, reload_interval_s=0, startup_wait_s=0.2)
    assert state_of(app).loader.load_now() is not None
    registry.set_alias("champion", "2")
    with caplog.at_level(logging.INFO, logger="sentiment.api"), TestClient(app) as client:
        assert served(client) == "1"  # the start did not wait for version 2
        registry.release.set()
        deadline = time.monotonic() + 5
        while client.get("/model").json()["reload"]["checks"] == 0:  # the check is over
            assert time.monotonic() < deadline, "the check that swapped version 2 went unrecorded"
            time.sleep(0.02)
        assert served(client) == "2"
        metrics = client.get("/metrics").text
        reload = client.get("/model").json()["reload"]
    info = [line for line in metrics.splitlines() if line.startswith("sentiment_model_info{")]
    assert len(info) == 1
    assert 'version="2"' in info[0]
    assert (reload["checks"], reload["last_outcome"]) == (1, "swapped")
    swapped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reload: ")]
    assert len(swapped) == 1
    assert swapped[0].startswith("reload: serving version 2 instead of version 1"), swapped
