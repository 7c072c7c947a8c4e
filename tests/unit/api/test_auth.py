"""Optional API keys on the prediction routes and /model; the admin token; constant-time checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.entrypoints.api.auth import SecretSet, presented_secret
from sentiment.entrypoints.settings import Settings
from tests.support.api import JSON, MARKER, AppFactory, assert_error

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"
ADMIN = "admin-token-0123456789"
PROTECTED: list[tuple[str, str, Any]] = [
    ("POST", "/predict", {"text": MARKER}),
    ("POST", "/predict/batch", {"texts": [MARKER]}),
    ("POST", "/invocations", {"inputs": [MARKER]}),
    ("GET", "/model", None),
]
OPEN = ["/health", "/ping", "/ready", "/metrics"]


@pytest.fixture
def keyed(make_app: AppFactory, registry: InMemoryModelRegistry) -> Iterator[TestClient]:
    app = make_app(registry, api_keys=[KEY_A, KEY_B], admin_token=ADMIN)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def call(client: TestClient, method: str, path: str, body: Any, **headers: str) -> Any:
    if body is None:
        return client.request(method, path, headers=headers)
    return client.request(method, path, content=json.dumps(body), headers={**JSON, **headers})


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_no_key_is_401_with_www_authenticate(
    keyed: TestClient, method: str, path: str, body: Any
) -> None:
    response = call(keyed, method, path, body)
    error = assert_error(response, 401, "unauthorized")
    assert "X-API-Key" in error["message"]
    assert response.headers["www-authenticate"] == 'Bearer realm="sentiment"'


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "wrong-key-0123456789"},
        {"X-API-Key": KEY_A + "x"},
        {"X-API-Key": KEY_A[:-1]},
        {"Authorization": f"Bearer {KEY_B.upper()}"},
    ],
    ids=["wrong", "longer", "shorter", "bearer-wrong-case"],
)
def test_a_wrong_key_is_403(
    keyed: TestClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    error = assert_error(call(keyed, method, path, body, **headers), 403, "forbidden")
    assert error["message"] == "the API key is not valid"
    assert KEY_A not in json.dumps(error)
    assert KEY_B not in json.dumps(error)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": KEY_A}, {"x-api-key": f" {KEY_B} "}, {"Authorization": f"bearer {KEY_A}"}],
    ids=["header", "second-key-padded", "bearer"],
)
def test_a_right_key_passes(
    keyed: TestClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    assert call(keyed, method, path, body, **headers).status_code == 200


@pytest.mark.parametrize("path", OPEN)
def test_probes_and_metrics_stay_open(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_the_key_is_checked_before_the_body_is_read(keyed: TestClient) -> None:
    # An unauthenticated client gets 401 even for a body that would be a 413 or a 400.
    huge = b"{" * (2 * 1024 * 1024)
    assert_error(keyed.post("/predict", content=huge, headers=JSON), 401, "unauthorized")
    bad = {"X-API-Key": "wrong-key-0123456789"}
    assert_error(keyed.post("/predict", content=b"{", headers={**JSON, **bad}), 403, "forbidden")


def test_unknown_methods_on_protected_routes_stay_405(keyed: TestClient) -> None:
    assert_error(keyed.get("/predict"), 405, "method_not_allowed")
    assert_error(keyed.delete("/model"), 405, "method_not_allowed")
    # No route answers HEAD (FastAPI's GET routes do not): 405 with a key or without one.
    for headers in ({}, {"X-API-Key": KEY_A}):
        response = keyed.head("/model", headers=headers)
        assert (response.status_code, response.content) == (405, b""), headers


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"}], ids=["none", "wrong"]
)
def test_the_admin_route_answers_401_with_its_own_realm(
    keyed: TestClient, headers: dict[str, str]
) -> None:
    # docs/security.md's table: no or a wrong admin token is 401 (not 403), realm sentiment-admin.
    response = keyed.post("/admin/reload", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == 'Bearer realm="sentiment-admin"'


def test_the_admin_route_takes_its_token_not_an_api_key(keyed: TestClient) -> None:
    assert_error(keyed.post("/admin/reload", headers={"X-API-Key": KEY_A}), 401, "unauthorized")
    assert_error(
        keyed.post("/admin/reload", headers={"Authorization": f"Bearer {KEY_A}"}),
        401,
        "unauthorized",
    )
    ok = keyed.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert ok.status_code == 200
    # The admin token travels only as a bearer token: not in X-API-Key, and a client that sends
    # its API key on every request (for the prediction routes) still gets in with the token.
    assert_error(keyed.post("/admin/reload", headers={"X-API-Key": ADMIN}), 401, "unauthorized")
    both = {"X-API-Key": KEY_A, "Authorization": f"Bearer {ADMIN}"}
    assert keyed.post("/admin/reload", headers=both).status_code == 200


def test_without_keys_nothing_needs_one(client: TestClient) -> None:
    for method, path, body in PROTECTED:
        assert call(client, method, path, body).status_code == 200, path
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_the_openapi_document_declares_the_schemes(keyed: TestClient) -> None:
    spec = keyed.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of SENTIMENT_API_KEYS.",
    }
    assert schemes["ApiKeyBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "One of SENTIMENT_API_KEYS, as a bearer token.",
    }
    assert schemes["AdminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "SENTIMENT_ADMIN_TOKEN.",
    }
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for method, path, _ in PROTECTED:
        operation = spec["paths"][path][method.lower()]
        assert operation["security"] == [{"ApiKeyHeader": []}, {"ApiKeyBearer": []}]
        responses = operation["responses"]
        assert responses["401"] == {
            "description": "No API key: send one (see WWW-Authenticate).",
            "content": error_body,
        }
        assert responses["403"] == {
            "description": "The API key is not one of SENTIMENT_API_KEYS.",
            "content": error_body,
        }
    assert spec["paths"]["/admin/reload"]["post"]["security"] == [{"AdminToken": []}]
    for path in OPEN:
        assert "security" not in spec["paths"][path]["get"]
    assert KEY_A not in json.dumps(spec)
    assert ADMIN not in json.dumps(spec)


def test_secret_set_matches_only_the_secrets() -> None:
    secrets = SecretSet([KEY_A, KEY_B])
    assert len(secrets) == 2
    assert secrets
    assert secrets.matches(KEY_A.encode())
    assert secrets.matches(KEY_B.encode())
    for wrong in (b"", KEY_A.encode()[:-1], KEY_A.encode() + b"\x00", KEY_A.upper().encode()):
        assert not secrets.matches(wrong)
    assert not SecretSet([])
    assert not SecretSet([]).matches(b"")


def test_presented_secret_prefers_the_api_key_header() -> None:
    headers = [(b"authorization", b"Bearer  tok "), (b"x-api-key", b" key ")]
    assert presented_secret(headers, api_key_header=True) == b"key"
    assert presented_secret(headers, api_key_header=False) == b"tok"
    assert presented_secret([(b"authorization", b"Basic tok")], api_key_header=True) is None
    assert presented_secret([(b"x-api-key", b"  ")], api_key_header=True) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{KEY_A},{KEY_B}", [KEY_A, KEY_B]),
        (f" {KEY_A} , {KEY_B} ,", [KEY_A, KEY_B]),
        (json.dumps([KEY_A, KEY_B]), [KEY_A, KEY_B]),
        ("", []),
    ],
    ids=["comma", "comma-padded", "json", "empty"],
)
def test_api_keys_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("SENTIMENT_API_KEYS", value)
    assert Settings().api_keys == expected


@pytest.mark.parametrize("value", [",", " , ,", ",\n"])
def test_separators_without_a_key_are_refused_not_taken_for_no_keys(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SENTIMENT_API_KEYS", value)
    with pytest.raises(ValidationError, match="names no key"):
        Settings()


def test_short_keys_are_refused_without_printing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_API_KEYS", f"{KEY_A},short-secret")
    with pytest.raises(ValidationError, match="api_keys") as raised:
        Settings()
    assert "short-secret" not in str(raised.value)
    assert KEY_A not in str(raised.value)
    assert KEY_A not in repr(Settings(api_keys=[KEY_A]))


def test_secrets_read_with_surrounding_whitespace_still_open_their_routes(
    make_app: AppFactory, registry: InMemoryModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A secret mounted from a file often ends in a newline. A presented secret is stripped, so
    # a configured one that kept its whitespace could never match: every request was refused.
    monkeypatch.setenv("SENTIMENT_ADMIN_TOKEN", f"{ADMIN}\n")
    monkeypatch.setenv("SENTIMENT_API_KEYS", json.dumps([f" {KEY_A}\n"]))
    assert (Settings().admin_token, Settings().api_keys) == (ADMIN, [KEY_A])
    with TestClient(make_app(registry)) as client:
        reload = client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert reload.status_code == 200, reload.text
        answer = call(client, "POST", "/predict", {"text": "fine"}, **{"X-API-Key": KEY_A})
        assert answer.status_code == 200, answer.text
