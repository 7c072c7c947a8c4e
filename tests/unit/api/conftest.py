"""The API over an in-memory registry holding a small model trained once per session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.ports import ModelRegistry
from sentiment.entrypoints.api import create_app
from tests.support.api import (
    FAST_RETRY,
    AppFactory,
    memory_container,
    registry_with,
    small_classifier,
)


@pytest.fixture(scope="session")
def classifier() -> SklearnClassifier:
    return small_classifier()


@pytest.fixture
def registry(classifier: SklearnClassifier) -> InMemoryModelRegistry:
    """Version 1 (@champion) holds the small model."""
    registry = registry_with(classifier, accuracy=0.81, f1_macro=0.8)
    registry.set_alias("champion", "1")
    return registry


@pytest.fixture
def make_app() -> AppFactory:
    """`make_app(registry, **settings)`: an app over that registry, with fast retries."""

    def make(registry: ModelRegistry, **settings: Any) -> FastAPI:
        return create_app(memory_container(registry, **{**FAST_RETRY, **settings}))

    return make


@pytest.fixture
def client(make_app: AppFactory, registry: InMemoryModelRegistry) -> Iterator[TestClient]:
    """A started app (the model is loaded) over `registry`."""
    with TestClient(make_app(registry), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def registry_module(classifier: SklearnClassifier) -> InMemoryModelRegistry:
    """Like `registry`, shared by a module's tests (do not change it)."""
    registry = registry_with(classifier)
    registry.set_alias("champion", "1")
    return registry


@pytest.fixture(scope="module")
def make_app_module() -> AppFactory:
    def make(registry: ModelRegistry, **settings: Any) -> FastAPI:
        return create_app(memory_container(registry, **{**FAST_RETRY, **settings}))

    return make
