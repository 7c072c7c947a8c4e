"""Helpers shared by the API tests: a small model trained once per process, containers, doubles.

The shared IMDB data is read from `SENTIMENT_TEST_DATA` (default: `<repo>/../shared/data/imdb/
train.csv`); a few hundred rows are sampled at run time and nothing is written to the repository.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from dependency_injector import providers
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import RegistryUnavailableError
from sentiment.domain.model import ModelVersion, ParamValue, Prediction
from sentiment.domain.ports import Classifier, ModelRegistry, TrainingRun
from sentiment.entrypoints.api import schemas
from sentiment.entrypoints.api.middleware import BodyGuardMiddleware
from sentiment.entrypoints.container import Container, build_container
from sentiment.entrypoints.settings import Settings
from tests.support.data import shared_data_path
from tests.support.processes import venv_env

# Small and fast: 2**18 hashed features, word 1-2grams.
SMALL_PARAMS: dict[str, ParamValue] = {"n_features_log2": 18, "ngram_max": 2}
SAMPLE_ROWS = 300
AppFactory = Callable[..., FastAPI]
# Fast retries so that "becomes ready by itself" takes well under a second in tests.
FAST_RETRY: dict[str, Any] = {
    "load_retry_initial_s": 0.05,
    "load_retry_max_s": 0.2,
    "startup_wait_s": 5.0,
}


@functools.cache
def shared_rows() -> tuple[tuple[str, str], ...]:
    """(text, label) of every row of the shared train.csv, read once per process."""
    path = shared_data_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"shared test data not found at {path}: set SENTIMENT_TEST_DATA to the IMDB train.csv"
        )
    with path.open(newline="", encoding="utf-8") as handle:
        return tuple((row["text"], row["label"]) for row in csv.DictReader(handle))


def sample_rows(n: int = SAMPLE_ROWS, seed: int = 7) -> list[tuple[str, str]]:
    """`n` rows, half of each label, in a seeded random order."""
    rows = shared_rows()
    rng = random.Random(seed)
    by_label: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    labels = sorted(by_label)
    picked: list[tuple[str, str]] = []
    for i, label in enumerate(labels):
        count = n // len(labels) + (1 if i < n % len(labels) else 0)
        picked.extend(rng.sample(by_label[label], count))
    rng.shuffle(picked)
    return picked


def write_sample_csv(path: Path, n: int = SAMPLE_ROWS, seed: int = 7) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(sample_rows(n, seed))
    return path


@functools.cache
def small_classifier() -> SklearnClassifier:
    """A small `nblr` model fitted once per process on 300 sampled reviews. Do not refit it."""
    rows = sample_rows()
    classifier = SklearnClassifier("nblr", SMALL_PARAMS)
    classifier.fit([t for t, _ in rows], [label for _, label in rows])
    return classifier


def memory_container(registry: ModelRegistry, **settings: Any) -> Container:
    """The app's container with `registry` in place of the configured one."""
    container = build_container(Settings(registry="memory", **settings))
    container.registry.override(providers.Object(registry))
    return container


def registry_with(classifier: Classifier | None = None, **metrics: float) -> InMemoryModelRegistry:
    registry = InMemoryModelRegistry()
    if classifier is not None:
        registry.add(classifier, metrics or {"accuracy": 0.8, "f1_macro": 0.8})
    return registry


class FixedClassifier(Classifier):
    """Answers every text with the same probabilities; counts its calls. For use-case tests."""

    def __init__(
        self,
        probabilities: Mapping[str, float] | None = None,
        error: Exception | None = None,
        name: str = "fixed",
    ) -> None:
        self._probabilities = dict(probabilities or {"negative": 0.25, "positive": 0.75})
        self._error = error
        self.name = name
        self.texts: list[tuple[str, ...]] = []  # what each call was asked to classify

    @property
    def model_type(self) -> str:
        return "fixed"

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(self._probabilities))

    def hyperparameters(self) -> Mapping[str, ParamValue]:
        return {}

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        return None

    @property
    def calls(self) -> int:
        return len(self.texts)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.texts.append(tuple(texts))
        if self._error is not None:
            raise self._error
        label = max(self._probabilities, key=self._probabilities.__getitem__)
        return [Prediction(label, dict(self._probabilities)) for _ in texts]


def run_body_guard(
    receive: Receive, max_body_bytes: int = 1024, body_timeout_s: float = 30.0
) -> tuple[list[Scope], list[Message]]:
    """`BodyGuardMiddleware` alone on a JSON POST to /predict whose body `receive` delivers:
    (the scopes that reached the app behind it, the messages it sent)."""
    reached: list[Scope] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope)

    async def send(message: Message) -> None:
        sent.append(message)

    guard = BodyGuardMiddleware(app, max_body_bytes, ["/predict"], body_timeout_s=body_timeout_s)
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"content-type", b"application/json")],
    }
    asyncio.run(guard(scope, receive, send))
    return reached, sent


def http_scope(method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> Scope:
    """The ASGI scope of an HTTP/1.1 request, for calling an app directly (without a client)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("ascii"),
        "root_path": "",
        "query_string": b"",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


class SwitchableRegistry(ModelRegistry):
    """An in-memory registry that can be made unreachable (RegistryUnavailableError) at will."""

    def __init__(self, inner: InMemoryModelRegistry | None = None, down: bool = True) -> None:
        self.inner = inner if inner is not None else InMemoryModelRegistry()
        self.down = down
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise RegistryUnavailableError("the test registry is switched off")

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    def start_run(self, run_name: str | None = None) -> AbstractContextManager[TrainingRun]:
        self._check()
        return self.inner.start_run(run_name)

    def get_version(self, version: str) -> ModelVersion:
        self._check()
        return self.inner.get_version(version)

    def get_by_alias(self, alias: str) -> ModelVersion:
        self._check()
        return self.inner.get_by_alias(alias)

    def latest_version(self) -> ModelVersion:
        self._check()
        return self.inner.latest_version()

    def list_versions(self) -> list[ModelVersion]:
        self._check()
        return self.inner.list_versions()

    def set_alias(self, alias: str, version: str) -> None:
        self._check()
        self.inner.set_alias(alias, version)

    def delete_alias(self, alias: str) -> None:
        self._check()
        self.inner.delete_alias(alias)

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        self._check()
        self.inner.set_tags(version, tags)

    def load(self, version: str) -> Classifier:
        self._check()
        return self.inner.load(version)


MARKER = "Zq7MARKERxW"  # put in submitted texts; must never come back in a response
JSON = {"content-type": "application/json"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the documented error, with its request id, and echoes nothing."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = schemas.ErrorResponse.model_validate(response.json())
    assert body.error.code == code, response.text
    assert body.error.request_id == response.headers["x-request-id"]
    assert body.error.message
    assert MARKER not in response.text
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def subprocess_env(**extra: str) -> dict[str, str]:
    """This venv's environment without the caller's SENTIMENT_* settings, plus `extra`."""
    env = {k: v for k, v in venv_env().items() if not k.startswith("SENTIMENT_")}
    env.update(extra)
    return env
