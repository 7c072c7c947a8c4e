"""Schemathesis against the app's own /openapi.json, in process: more than 1,000 generated
requests over every route, schema-valid and schema-violating, with every built-in check (no 5xx;
status codes, content types, headers and bodies as documented; valid data accepted, invalid data
refused; auth not ignored). Derandomized: the same cases on every run.

The app runs with small limits (200-character texts, batches of 8) so that generating texts near
the limits stays cheap; the limits themselves are written into the document either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from tests.support.api import AppFactory

ADMIN = "admin-token-for-fuzzing-0123"
API_KEY = "api-key-for-fuzzing-0123456"
FUZZ_LIMITS = {"max_text_chars": 200, "max_batch": 8, "reload_interval_s": 0}
OPERATIONS = {
    ("POST", "/predict"),
    ("POST", "/predict/batch"),
    ("POST", "/invocations"),
    ("GET", "/health"),
    ("GET", "/ping"),
    ("GET", "/ready"),
    ("GET", "/model"),
    ("GET", "/metrics"),
    ("POST", "/admin/reload"),
}
Tally = Counter[tuple[str, str, int]]


def fuzz(app: FastAPI, examples: int, headers: dict[str, str] | None = None) -> Tally:
    """Run `examples` generated cases (positive and negative) against `app`; the tally of
    (method, path, status). Fails on the first check that fails, with a curl to reproduce it."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    strategy = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)
    )
    tally: Tally = Counter()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(headers=headers)
        tally[(case.method, case.path, response.status_code)] += 1

    run()
    return tally


def summary(tally: Tally) -> str:
    lines = [f"{sum(tally.values())} generated requests"]
    for (method, path, status), count in sorted(tally.items()):
        lines.append(f"  {method:4} {path:15} {status}  x{count}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def open_app(
    make_app_module: AppFactory, registry_module: InMemoryModelRegistry
) -> Iterator[FastAPI]:
    """No API keys; the admin route exists (its token is not given to the fuzzer)."""
    app = make_app_module(registry_module, admin_token=ADMIN, **FUZZ_LIMITS)
    with TestClient(app):  # runs the lifespan: the model is loaded
        yield app


@pytest.fixture(scope="module")
def keyed_app(
    make_app_module: AppFactory, registry_module: InMemoryModelRegistry
) -> Iterator[FastAPI]:
    app = make_app_module(registry_module, api_keys=[API_KEY], admin_token=ADMIN, **FUZZ_LIMITS)
    with TestClient(app):
        yield app


def test_a_thousand_generated_requests_find_nothing(open_app: FastAPI) -> None:
    tally = fuzz(open_app, examples=1_100)
    print(summary(tally))
    assert sum(tally.values()) >= 1_000
    assert {(method, path) for method, path, _ in tally} == OPERATIONS
    assert all(status < 500 for _, _, status in tally)
    # Both sides were exercised on the routes that take a body.
    for route in ("/predict", "/predict/batch", "/invocations"):
        statuses = {status for method, path, status in tally if path == route}
        assert 200 in statuses, route
        assert statuses & {400, 422}, (route, statuses)


def test_with_api_keys_the_documented_auth_holds(keyed_app: FastAPI) -> None:
    with_key = fuzz(keyed_app, examples=200, headers={"X-API-Key": API_KEY})
    without = fuzz(keyed_app, examples=100)
    print(summary(with_key + without))
    assert {status for _, path, status in with_key if path == "/predict"} >= {200}
    statuses = {status for _, path, status in without if path in ("/predict", "/model")}
    assert statuses <= {401, 403}, statuses
