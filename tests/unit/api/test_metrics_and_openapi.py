"""GET /metrics (Prometheus) and the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from tests.support.api import AppFactory

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, metric: str, /, **labels: str) -> float:
    return found.get((metric, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_predictions_confidence_and_loads(client: TestClient) -> None:
    client.post("/predict", json={"text": "A wonderful film, I loved it."})
    client.post("/predict/batch", json={"texts": ["Awful and boring.", "Great.", "Superb!"]})
    client.post("/predict/batch", json={"texts": ["Dull.", "Fine."]})
    client.post("/invocations", json={"inputs": ["Great."]})
    client.post("/predict", json={"text": ""})
    client.get("/no-such-route-1")
    client.get("/no-such-route-2")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    requests = "sentiment_http_requests_total"
    assert value(found, requests, route="/predict", method="POST", status="200") == 1
    assert value(found, requests, route="/predict", method="POST", status="422") == 1
    assert value(found, requests, route="/predict/batch", method="POST", status="200") == 2
    assert value(found, requests, route="/invocations", method="POST", status="200") == 1
    # Unknown paths share one label, so that scanners cannot blow up the series count.
    assert value(found, requests, route="unmatched", method="GET", status="404") == 2
    latency = "sentiment_http_request_duration_seconds_count"
    assert value(found, latency, route="/predict", method="POST", status="200") == 1

    predicted = sum(
        value(found, "sentiment_predictions_total", label=label, model_version="1")
        for label in ("negative", "positive")
    )
    assert predicted == 7  # every text, whatever the size of its request
    assert value(found, "sentiment_prediction_confidence_count", model_version="1") == 7
    assert value(found, "sentiment_prediction_confidence_bucket", model_version="1", le="0.5") == 0
    assert value(found, "sentiment_prediction_confidence_bucket", model_version="1", le="1.0") == 7
    assert value(found, "sentiment_texts_per_request_sum", route="/predict/batch") == 5

    assert value(found, "sentiment_model_loads_total", outcome="success") == 1
    # The failure series exists (at 0) before any failure, so that an alert on it can fire.
    assert found[("sentiment_model_loads_total", (("outcome", "failure"),))] == 0
    assert value(found, "sentiment_model_ready") == 1
    assert (
        value(
            found,
            "sentiment_model_info",
            name="SentimentAnalysisModel",
            version="1",
            alias="champion",
            resolved_by="alias",
        )
        == 1
    )
    assert value(found, "sentiment_model_load_duration_seconds_count") == 1
    # /model reports the same load time, to a tenth of a millisecond.
    load_seconds = value(found, "sentiment_model_load_duration_seconds_sum")
    model = client.get("/model").json()
    assert model["load_seconds"] == round(load_seconds, 4)
    loaded_at = value(found, "sentiment_model_loaded_timestamp_seconds")
    assert abs(datetime.fromisoformat(model["loaded_at"]).timestamp() - loaded_at) < 0.001


def test_two_apps_keep_separate_metrics(
    make_app: AppFactory, registry: InMemoryModelRegistry
) -> None:
    with TestClient(make_app(registry)) as first, TestClient(make_app(registry)) as second:
        first.post("/predict", json={"text": "good"})
        found = samples(second.get("/metrics").text)
    assert (
        value(found, "sentiment_http_requests_total", route="/predict", method="POST", status="200")
        == 0
    )


@pytest.fixture
def spec(make_app: AppFactory, registry: InMemoryModelRegistry) -> dict[str, Any]:
    with TestClient(make_app(registry, max_batch=64, max_text_chars=1000)) as client:
        response = client.get("/openapi.json")
        assert client.get("/docs").status_code == 200
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_every_route_is_documented(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    assert set(paths) >= {
        "/predict",
        "/predict/batch",
        "/invocations",
        "/health",
        "/ping",
        "/ready",
        "/model",
        "/metrics",
    }
    # /metrics answers Prometheus' text format, not JSON.
    metrics = paths["/metrics"]["get"]["responses"]["200"]
    assert metrics["content"] == {"text/plain": {"schema": {"type": "string"}}}
    for route in ("/predict", "/predict/batch", "/invocations"):
        operation = paths[route]["post"]
        assert operation["requestBody"]["required"] is True
        media = operation["requestBody"]["content"]["application/json"]
        assert media["schema"]["$ref"].startswith("#/components/schemas/")
        for status in ("400", "413", "415", "422", "500", "503"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (route, status)


def test_request_schemas_state_the_configured_limits_and_examples(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["text"]["maxLength"] == 1000
    assert schemas["PredictRequest"]["additionalProperties"] is False
    assert schemas["PredictRequest"]["examples"]
    texts = schemas["BatchPredictRequest"]["properties"]["texts"]
    assert (texts["minItems"], texts["maxItems"], texts["items"]["maxLength"]) == (1, 64, 1000)
    forms = {form["title"]: form for form in schemas["InvocationsRequest"]["oneOf"]}
    assert set(forms) == {"inputs", "instances", "dataframe_split", "dataframe_records"}
    inputs = forms["inputs"]["properties"]["inputs"]
    assert (inputs["maxItems"], inputs["items"]["maxLength"]) == (64, 1000)
    assert all(form["additionalProperties"] is False for form in forms.values())
    examples = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    assert set(examples["examples"]) == {
        "inputs",
        "instances",
        "dataframe_split",
        "dataframe_records",
    }
    for name in ("DataframeSplit", "ErrorResponse", "ErrorInfo", "ErrorDetail", "ModelRef"):
        assert name in schemas


def test_no_default_validation_error_that_echoes_input(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "ValidationError" not in spec["components"]["schemas"]
    error_info = spec["components"]["schemas"]["ErrorInfo"]["properties"]
    assert "input" not in error_info


def test_clients_cannot_create_method_labels(client: TestClient) -> None:
    # h11 (serve's fallback, and `uvicorn --http h11`) accepts any token as a method: each one
    # would otherwise become a new label value, a new series that lives as long as the process.
    for i in range(30):
        assert client.request(f"X{i}", "/health").status_code == 405
    assert client.request("OPTIONS", "/predict").status_code == 405  # a known method keeps its name

    found = samples(client.get("/metrics").text)

    methods = {
        dict(labels)["method"]
        for (name, labels) in found
        if name == "sentiment_http_requests_total"
    }
    assert methods == {"OPTIONS", "other"}  # (this GET /metrics is counted after it answers)
    requests = "sentiment_http_requests_total"
    assert value(found, requests, route="/health", method="other", status="405") == 30
    assert value(found, requests, route="/predict", method="OPTIONS", status="405") == 1


def test_every_standard_method_keeps_its_own_label(client: TestClient) -> None:
    # Only the methods outside HTTP's own list are folded into "other".
    methods = ("HEAD", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT")
    for method in methods:
        assert client.request(method, "/health").status_code in (200, 405)
    found = samples(client.get("/metrics").text)
    requests = "sentiment_http_requests_total"
    for method in methods:
        counted = sum(
            count
            for (name, labels), count in found.items()
            if name == requests and dict(labels)["method"] == method
        )
        assert counted == 1, method
    assert not any(
        name == requests and dict(labels)["method"] == "other" for (name, labels) in found
    )


def test_the_documented_examples_are_requests_the_api_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    media = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    examples = {
        "/predict": components["PredictRequest"]["examples"],
        "/predict/batch": components["BatchPredictRequest"]["examples"],
        "/invocations": [example["value"] for example in media["examples"].values()],
    }
    assert sorted(media["examples"]) == [
        "dataframe_records",
        "dataframe_split",
        "inputs",
        "instances",
    ]
    for route, bodies in examples.items():
        assert bodies, route
        for body in bodies:
            response = client.post(route, json=body)
            assert response.status_code == 200, (route, body, response.text)
            if route != "/predict":
                assert len(response.json()["predictions"]) == 2, (route, body)
