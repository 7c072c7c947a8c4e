"""Whatever JSON arrives, the answer is a prediction or a documented 4xx, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.entrypoints.api import schemas
from tests.support.api import JSON, AppFactory

# JSON that orjson reads: no NaN or infinities, integers within 64 bits.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
KEYS = "text texts inputs instances dataframe_split dataframe_records params columns data index"
keys = st.sampled_from(KEYS.split())
shaped = st.dictionaries(keys, json_values, max_size=3)


@pytest.fixture(scope="module")
def module_client(
    make_app_module: AppFactory, registry_module: InMemoryModelRegistry
) -> Iterator[TestClient]:
    with TestClient(make_app_module(registry_module, max_batch=8, max_text_chars=50)) as client:
        yield client


def check(client: TestClient, route: str, body: Any) -> None:
    response = client.post(route, content=json.dumps(body), headers=JSON)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        schemas.ErrorResponse.model_validate(response.json())
    elif route == "/predict":
        schemas.PredictResponse.model_validate(response.json())
    elif route == "/predict/batch":
        schemas.BatchPredictResponse.model_validate(response.json())
    else:
        schemas.InvocationsResponse.model_validate(response.json())


@pytest.mark.parametrize("route", ["/predict", "/predict/batch", "/invocations"])
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(json_values, shaped))
def test_any_json_gets_a_prediction_or_a_422(
    module_client: TestClient, route: str, body: Any
) -> None:
    check(module_client, route, body)
