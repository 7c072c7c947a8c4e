"""The one error handler: each domain error gets its status code and code, a message only when
it may be shown, Retry-After on a 503, and a server log line on a 500 (the client gets only the
request id to quote)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Header, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from sentiment.domain.errors import (
    ClassifierError,
    DatasetError,
    InvalidInputError,
    ModelCrashError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    NotFittedError,
    PromotionRefusedError,
    RegistryUnavailableError,
    SentimentError,
)
from sentiment.entrypoints.api.errors import ERROR_DESCRIPTIONS, install_error_handlers
from sentiment.entrypoints.api.metrics import ApiMetrics
from sentiment.entrypoints.api.middleware import RequestContextMiddleware
from tests.support.api import MARKER, assert_error

RAISED: list[Exception] = []  # what the /raise route raises next


class Item(BaseModel):
    text: str


@pytest.fixture
def raiser() -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise")
    def raise_it() -> None:
        raise RAISED.pop()

    @app.post("/items/{n}")
    def items(n: int, item: Item, q: int = Query(), count: int = Header()) -> None:
        return None

    wrapped = RequestContextMiddleware(app, ApiMetrics(), ["/raise"])
    with TestClient(wrapped, raise_server_exceptions=False) as test_client:
        yield test_client
    RAISED.clear()


SHOWN: dict[str, tuple[SentimentError, int, str]] = {
    "invalid input": (InvalidInputError("text 3 is blank"), 422, "invalid_input"),
    "not ready": (ModelNotReadyError("no registered version yet"), 503, "model_not_ready"),
    "registry down": (RegistryUnavailableError("unreachable"), 503, "registry_unavailable"),
    "load failed": (ModelLoadError("version 4 did not load"), 503, "model_load_failed"),
    "load crashed": (ModelCrashError("version 4 crashed its worker"), 503, "model_load_failed"),
    "no such version": (ModelNotFoundError("no version 9"), 404, "model_not_found"),
}


@pytest.mark.parametrize("case", list(SHOWN.values()), ids=list(SHOWN))
def test_a_domain_error_that_may_be_shown_gets_its_status_code_and_message(
    raiser: TestClient, case: tuple[SentimentError, int, str]
) -> None:
    exc, status, code = case
    RAISED.append(exc)
    error = assert_error(raiser.get("/raise"), status, code)
    assert error["message"] == str(exc)
    assert error["details"] == []


HIDDEN: dict[str, tuple[SentimentError, str]] = {
    "classifier": (ClassifierError(f"weights {MARKER}"), "prediction_failed"),
    "not fitted": (NotFittedError(f"fit first {MARKER}"), "prediction_failed"),
    "unlisted": (DatasetError(f"bad file {MARKER}"), "internal_error"),
    "another unlisted": (PromotionRefusedError(f"refused {MARKER}"), "internal_error"),
    "the base class": (SentimentError(f"anything {MARKER}"), "internal_error"),
}


@pytest.mark.parametrize("case", list(HIDDEN.values()), ids=list(HIDDEN))
def test_any_other_domain_error_is_a_500_that_shows_only_the_request_id_and_is_logged(
    raiser: TestClient, case: tuple[SentimentError, str], caplog: pytest.LogCaptureFixture
) -> None:
    exc, code = case
    RAISED.append(exc)
    with caplog.at_level(logging.ERROR, logger="sentiment.api"):
        response = raiser.get("/raise", headers={"x-request-id": "req-500"})
    error = assert_error(response, 500, code)
    assert error["message"] == "internal error; the server logged it under this request id"
    assert "retry-after" not in response.headers
    [record] = [r for r in caplog.records if r.name == "sentiment.api"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"{code} on GET /raise (request id req-500)"
    assert getattr(record, "request_id") == "req-500"  # noqa: B009
    assert record.exc_info is not None
    assert record.exc_info[1] is exc


def test_errors_that_may_be_shown_are_not_logged_as_errors(
    raiser: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="sentiment.api"):
        for exc, _, _ in SHOWN.values():
            RAISED.append(exc)
            raiser.get("/raise")
    assert [r for r in caplog.records if r.name == "sentiment.api"] == []


@pytest.mark.parametrize(
    ("retry_after_s", "header"),
    [(None, "1"), (0.0, "1"), (-0.5, "1"), (0.2, "1"), (1.0, "1"), (2.1, "3")],
)
def test_retry_after_is_the_estimate_in_whole_seconds_and_at_least_one(
    raiser: TestClient, retry_after_s: float | None, header: str
) -> None:
    RAISED.append(ModelNotReadyError("loading", retry_after_s=retry_after_s))
    response = raiser.get("/raise")
    assert_error(response, 503, "model_not_ready")
    assert response.headers["retry-after"] == header


def test_every_503_says_when_to_retry_and_no_other_status_does(raiser: TestClient) -> None:
    for exc, status, _ in SHOWN.values():
        RAISED.append(exc)
        response = raiser.get("/raise")
        assert response.headers.get("retry-after") == ("1" if status == 503 else None), exc


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (404, "not_found", "no such route; the API is described at /docs and /openapi.json"),
        (405, "method_not_allowed", "method not allowed on this route; see the Allow header"),
        (400, "bad_request", "bad request"),
        (401, "unauthorized", "unauthorized"),
        (403, "forbidden", "forbidden"),
        (408, "request_timeout", "request timeout"),
        (413, "payload_too_large", "request entity too large"),
        (415, "unsupported_media_type", "unsupported media type"),
        (422, "validation_error", "unprocessable entity"),
        (418, "http_error", "i'm a teapot"),
        (599, "http_error", "request failed"),
    ],
)
def test_http_errors_get_a_stable_code_and_a_message_for_people(
    raiser: TestClient, status: int, code: str, message: str
) -> None:
    RAISED.append(HTTPException(status, detail=f"detail {MARKER}", headers={"X-Why": "because"}))
    response = raiser.get("/raise")
    error = assert_error(response, status, code)
    assert error["message"] == message
    assert response.headers["x-why"] == "because"


def test_details_list_the_first_20_problems_as_documented(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"texts": [1] * 25})
    error = assert_error(response, 422, "validation_error")
    assert [d["field"] for d in error["details"]] == [f"texts[{i}]" for i in range(20)]
    assert error["message"] == (
        "invalid request: texts[0]: must be a string, not a number "
        "(and 24 more problem(s); details lists the first 20)"
    )


def test_a_few_problems_are_all_listed_and_counted_in_the_message(client: TestClient) -> None:
    error = assert_error(
        client.post("/predict/batch", json={"texts": [1] * 3}), 422, "validation_error"
    )
    assert [d["field"] for d in error["details"]] == ["texts[0]", "texts[1]", "texts[2]"]
    assert error["message"] == (
        "invalid request: texts[0]: must be a string, not a number "
        "(and 2 more problem(s); see details)"
    )


def test_parameters_the_framework_validates_are_named_without_where_they_came_from(
    raiser: TestClient,
) -> None:
    # No route of the API takes such parameters today; the handler is there for the first one.
    response = raiser.post("/items/x", params={"q": "y"}, headers={"count": "z"}, json={"t": 1})
    error = assert_error(response, 422, "validation_error")
    fields = [d["field"] for d in error["details"]]
    assert sorted(fields) == ["count", "n", "q", "text"], error
    assert error["message"].startswith(f"invalid request: {fields[0]}: ")
    assert error["message"].endswith("(and 3 more problem(s); see details)")


def test_a_pydantic_error_raised_by_a_route_is_a_422_naming_the_fields(raiser: TestClient) -> None:
    try:
        Item.model_validate({"text": 1})
    except ValidationError as exc:
        RAISED.append(exc)
    error = assert_error(raiser.get("/raise"), 422, "validation_error")
    assert error["details"] == [
        {"field": "text", "code": "string_type", "message": "Input should be a valid string"}
    ]
    assert error["message"] == "invalid request: text: Input should be a valid string"


def test_the_openapi_document_describes_each_error_of_a_route(client: TestClient) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]
    assert responses["413"]["description"] == (
        "The body is larger than SENTIMENT_MAX_BODY_BYTES; it was not read."
    )
    for status in ("400", "408", "413", "415", "422", "500", "503"):
        assert responses[status]["description"] == ERROR_DESCRIPTIONS[int(status)]
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
