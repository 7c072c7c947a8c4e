"""Every kind of bad input gets a clear 4xx in the one error shape: never a 5xx, never a stack
trace, never the submitted text echoed back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.entrypoints.api.errors import MAX_PROBLEMS
from sentiment.entrypoints.api.middleware import BodyGuardMiddleware
from tests.support.api import (
    JSON,
    MARKER,
    AppFactory,
    assert_error,
    http_scope,
    run_body_guard,
)


@pytest.fixture
def small_limits_client(
    make_app: AppFactory, registry: InMemoryModelRegistry
) -> Iterator[TestClient]:
    app = make_app(registry, max_text_chars=100, max_batch=3, max_body_bytes=4096)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


UNPROCESSABLE: dict[str, tuple[str, Any, str | None, str]] = {
    # name: (route, JSON body, field named in details, detail code)
    "empty text": ("/predict", {"text": ""}, "text", "blank_text"),
    "whitespace text": ("/predict", {"text": f" \t\n\u3000 {' ' * 3}"}, "text", "blank_text"),
    "missing field": ("/predict", {}, "text", "missing"),
    "misspelt field": ("/predict", {"txt": MARKER}, "txt", "extra_forbidden"),
    "extra field": ("/predict", {"text": MARKER, "lang": "en"}, "lang", "extra_forbidden"),
    "number": ("/predict", {"text": 42}, "text", "string_type"),
    "float": ("/predict", {"text": 4.2}, "text", "string_type"),
    "boolean": ("/predict", {"text": True}, "text", "string_type"),
    "null": ("/predict", {"text": None}, "text", "string_type"),
    "list": ("/predict", {"text": [MARKER]}, "text", "string_type"),
    "object": ("/predict", {"text": {"t": MARKER}}, "text", "string_type"),
    "body is a list": ("/predict", [MARKER], None, "model_type"),
    "body is a string": ("/predict", MARKER, None, "model_type"),
    "body is null": ("/predict", None, None, "model_type"),
    "batch body is a list": ("/predict/batch", [MARKER], None, "model_type"),
    "batch body is a character": ("/predict/batch", "x", None, "model_type"),
    "batch empty": ("/predict/batch", {"texts": []}, "texts", "too_short"),
    "batch not a list": ("/predict/batch", {"texts": MARKER}, "texts", "list_type"),
    "batch missing": ("/predict/batch", {"text": MARKER}, "texts", "missing"),
    "batch item number": ("/predict/batch", {"texts": [MARKER, 3]}, "texts[1]", "string_type"),
    "batch item null": ("/predict/batch", {"texts": [None, MARKER]}, "texts[0]", "string_type"),
    "batch item blank": ("/predict/batch", {"texts": [MARKER, "  "]}, "texts[1]", "blank_text"),
    "batch item list": ("/predict/batch", {"texts": [[MARKER]]}, "texts[0]", "string_type"),
}


@pytest.mark.parametrize("case", list(UNPROCESSABLE.values()), ids=list(UNPROCESSABLE))
def test_unprocessable_bodies_get_422_naming_the_field(
    client: TestClient, case: tuple[str, Any, str | None, str]
) -> None:
    route, body, field, code = case
    response = client.post(route, content=json.dumps(body), headers=JSON)
    error = assert_error(response, 422, "validation_error")
    assert {"field": field, "code": code} in [
        {"field": d["field"], "code": d["code"]} for d in error["details"]
    ], error


def test_text_over_the_limit_gets_422_with_the_limit(small_limits_client: TestClient) -> None:
    error = assert_error(
        small_limits_client.post("/predict", json={"text": MARKER + "x" * 100}),
        422,
        "validation_error",
    )
    assert error["details"] == [
        {
            "field": "text",
            "code": "string_too_long",
            "message": "is 111 characters long, over the limit of 100 (SENTIMENT_MAX_TEXT_CHARS)",
        }
    ]


def test_default_limit_refuses_50001_characters(client: TestClient) -> None:
    assert_error(
        client.post("/predict", json={"text": MARKER + "y" * 49_990}), 422, "validation_error"
    )


def test_a_batch_over_the_limit_gets_422(small_limits_client: TestClient) -> None:
    error = assert_error(
        small_limits_client.post("/predict/batch", json={"texts": [MARKER] * 4}),
        422,
        "validation_error",
    )
    assert "over the limit of 3" in error["message"]


def test_a_long_text_inside_a_batch_is_named_by_position(small_limits_client: TestClient) -> None:
    error = assert_error(
        small_limits_client.post("/predict/batch", json={"texts": ["ok", MARKER * 20]}),
        422,
        "validation_error",
    )
    assert error["details"][0]["field"] == "texts[1]"


TOO_LONG = "is 111 characters long, over the limit of 100 (SENTIMENT_MAX_TEXT_CHARS)"
BLANK = "is empty or whitespace only; there is nothing to classify"
UNKNOWN = {"field": "lang", "code": "extra_forbidden", "message": "Extra inputs are not permitted"}


@pytest.mark.parametrize(
    ("route", "body", "text_problems"),
    [
        ("/predict", {"text": 42}, [("text", "string_type", "must be a string, not a number")]),
        ("/predict", {"text": "  "}, [("text", "blank_text", BLANK)]),
        ("/predict", {"text": MARKER + "x" * 100}, [("text", "string_too_long", TOO_LONG)]),
        (
            "/predict/batch",
            {"texts": [None, " ", MARKER + "x" * 100]},
            [
                ("texts[0]", "string_type", "must be a string, not null"),
                ("texts[1]", "blank_text", BLANK),
                ("texts[2]", "string_too_long", TOO_LONG),
            ],
        ),
        ("/predict/batch", {"texts": []}, [("texts", "too_short", "needs at least one text")]),
        (
            "/predict/batch",
            {"texts": ["ok"] * 4},
            [("texts", "too_long", "has 4 texts, over the limit of 3 (SENTIMENT_MAX_BATCH)")],
        ),
    ],
    ids=["number", "blank", "too long", "batch items", "empty batch", "batch over the limit"],
)
def test_texts_are_judged_alike_beside_an_unknown_field(
    small_limits_client: TestClient,
    route: str,
    body: dict[str, Any],
    text_problems: list[tuple[str, str, str]],
) -> None:
    # The same rules for the texts whatever else is wrong with the body: with an unknown field
    # beside them, a blank or over-long text was not named at all, and a number got the schema's
    # "Input should be a valid string", a text alone "must be a string, not a number".
    alone = assert_error(small_limits_client.post(route, json=body), 422, "validation_error")
    mixed = assert_error(
        small_limits_client.post(route, json={**body, "lang": "en"}), 422, "validation_error"
    )
    expected = [{"field": f, "code": c, "message": m} for f, c, m in text_problems]
    assert alone["details"] == expected
    assert mixed["details"] == [*expected, UNKNOWN]
    assert mixed["message"].startswith(alone["message"].split(" (and ")[0])
    assert mixed["message"].endswith(f"(and {len(expected)} more problem(s); see details)")


@pytest.mark.parametrize(
    ("value", "json_type"),
    [
        (None, "null"),
        (True, "a boolean"),
        (False, "a boolean"),
        (7, "a number"),
        (0.5, "a number"),
        ([MARKER], "an array"),
        ({"text": MARKER}, "an object"),
    ],
    ids=["null", "true", "false", "integer", "float", "array", "object"],
)
def test_a_text_that_is_not_a_string_is_told_its_json_type(
    client: TestClient, value: Any, json_type: str
) -> None:
    expected = {"code": "string_type", "message": f"must be a string, not {json_type}"}
    single = assert_error(client.post("/predict", json={"text": value}), 422, "validation_error")
    assert single["details"] == [{"field": "text", **expected}]
    batch = assert_error(
        client.post("/predict/batch", json={"texts": ["fine", value]}), 422, "validation_error"
    )
    assert batch["details"] == [{"field": "texts[1]", **expected}]


def test_all_problems_of_a_batch_are_listed(client: TestClient) -> None:
    error = assert_error(
        client.post("/predict/batch", json={"texts": ["", 1, MARKER, None]}),
        422,
        "validation_error",
    )
    assert [d["field"] for d in error["details"]] == ["texts[0]", "texts[1]", "texts[3]"]


@pytest.mark.parametrize("route", ["/predict/batch", "/invocations"])
def test_the_problems_listed_stop_at_the_cap(client: TestClient, route: str) -> None:
    bad = MAX_PROBLEMS + 5
    texts = [MARKER, *[" "] * bad]
    body = {"texts": texts} if route == "/predict/batch" else {"inputs": texts}
    error = assert_error(client.post(route, json=body), 422, "validation_error")
    key = "texts" if route == "/predict/batch" else "inputs"
    fields = [f"{key}[{i}]" for i in range(1, MAX_PROBLEMS + 1)]  # the first ones, in order
    assert [d["field"] for d in error["details"]] == fields
    assert {d["code"] for d in error["details"]} == {"blank_text"}
    assert error["message"].endswith(
        f"(and {bad - 1} more problem(s); details lists the first {MAX_PROBLEMS})"
    )


@pytest.mark.parametrize(
    ("bad", "note"),
    [
        (MAX_PROBLEMS, f"(and {MAX_PROBLEMS - 1} more problem(s); see details)"),
        (
            MAX_PROBLEMS + 1,
            f"(and {MAX_PROBLEMS} more problem(s); details lists the first {MAX_PROBLEMS})",
        ),
    ],
    ids=["all listed", "one not listed"],
)
def test_the_message_says_when_details_are_cut_short(
    client: TestClient, bad: int, note: str
) -> None:
    response = client.post("/predict/batch", json={"texts": [" "] * bad})
    error = assert_error(response, 422, "validation_error")
    assert len(error["details"]) == MAX_PROBLEMS
    assert error["message"].endswith(note)


EXTRA = {f"k{i}": MARKER for i in range(MAX_PROBLEMS + 5)}
WRONG = [1] * (MAX_PROBLEMS + 5)


@pytest.mark.parametrize(
    ("route", "body", "listed"),
    [
        ("/predict", EXTRA, ["text", *list(EXTRA)[: MAX_PROBLEMS - 1]]),
        (
            "/predict/batch",
            {"texts": WRONG, "x": MARKER},
            [f"texts[{i}]" for i in range(MAX_PROBLEMS)],
        ),
    ],
    ids=["a missing and unknown fields", "wrong types and an unknown field"],
)
def test_schema_problems_stop_at_the_cap_too(
    client: TestClient, route: str, body: dict[str, Any], listed: list[str]
) -> None:
    # 26 problems each: the missing or misplaced texts' own, and one per unknown field or item.
    error = assert_error(client.post(route, json=body), 422, "validation_error")
    assert [d["field"] for d in error["details"]] == listed
    assert error["message"].endswith(
        f"(and {MAX_PROBLEMS + 5} more problem(s); details lists the first {MAX_PROBLEMS})"
    )


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'{"text": "' + MARKER.encode() + b'"', "invalid_json"),
        (b'{"text": \'' + MARKER.encode() + b"'}", "invalid_json"),
        (b'{"text": "' + MARKER.encode() + b'",}', "invalid_json"),
        (b'{"text": NaN}', "invalid_json"),
        (b'{"text": "\\ud800' + MARKER.encode() + b'"}', "invalid_json"),
        (b"", "invalid_json"),
        (b'{"text": "' + MARKER.encode() + b'\xff\xfe"}', "invalid_utf8"),
        (b'{"text": "' + MARKER.encode() + b'\xc3"}', "invalid_utf8"),
        ('{"text": "é"}'.encode("latin-1"), "invalid_utf8"),
        ('{"text": "x"}'.encode("utf-16"), "invalid_utf8"),
    ],
    ids=[
        "truncated",
        "single quotes",
        "trailing comma",
        "NaN",
        "lone surrogate",
        "empty body",
        "invalid bytes",
        "truncated sequence",
        "latin-1",
        "utf-16",
    ],
)
@pytest.mark.parametrize("route", ["/predict", "/predict/batch", "/invocations"])
def test_malformed_bodies_get_400(
    client: TestClient, route: str, payload: bytes, code: str
) -> None:
    error = assert_error(client.post(route, content=payload, headers=JSON), 400, code)
    assert error["details"] == []


@pytest.mark.parametrize("payload", [b"", b"\xef\xbb\xbf"], ids=["empty", "only a BOM"])
@pytest.mark.parametrize("route", ["/predict", "/predict/batch", "/invocations"])
def test_an_empty_body_is_told_to_send_a_json_object(
    client: TestClient, route: str, payload: bytes
) -> None:
    # Not the parser's "unexpected end of input at line 1 column 1".
    response = client.post(route, content=payload, headers=JSON)
    error = assert_error(response, 400, "invalid_json")
    assert error["message"] == "the request body is empty: send a JSON object"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        'Application/JSON; charset="UTF-8"',
        "application/json;charset=utf8",
        "application/json; foo=bar; charset=utf-8",
    ],
)
def test_json_with_a_utf8_charset_is_accepted(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/predict", json={"text": "fine"}, headers={"content-type": content_type}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (None, "missing Content-Type: send `Content-Type: application/json`"),
        ("text/plain", "unsupported Content-Type: send `Content-Type: application/json`"),
        ("application/json; charset=latin-1", "unsupported charset: JSON bodies must be UTF-8"),
        (
            "application/json; foo=bar; charset=latin-1",
            "unsupported charset: JSON bodies must be UTF-8",
        ),
    ],
)
def test_the_415_says_what_to_send(
    client: TestClient, content_type: str | None, message: str
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    request = client.build_request("POST", "/predict", content=b'{"text": "fine"}', headers=headers)
    if content_type is None:
        request.headers.pop("content-type", None)
    assert assert_error(client.send(request), 415, "unsupported_media_type")["message"] == message


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/csv",
        "application/json; charset=latin-1",
        "application/jsonx",
        "json",
    ],
)
@pytest.mark.parametrize("route", ["/predict", "/predict/batch", "/invocations"])
def test_a_wrong_or_missing_content_type_gets_415(
    client: TestClient, route: str, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    body = b'{"text": "' + MARKER.encode() + b'"}'
    request = client.build_request("POST", route, content=body, headers=headers)
    if content_type is None:
        request.headers.pop("content-type", None)
    assert_error(client.send(request), 415, "unsupported_media_type")


def test_a_declared_oversize_body_gets_413(small_limits_client: TestClient) -> None:
    payload = b'{"text": "' + (MARKER * 500).encode() + b'"}'
    assert len(payload) > 4096
    error = assert_error(
        small_limits_client.post("/predict", content=payload, headers=JSON),
        413,
        "payload_too_large",
    )
    assert error["message"] == (
        "the body exceeds the limit of 4096 bytes (SENTIMENT_MAX_BODY_BYTES)"
    )


def test_a_declared_oversize_body_is_refused_before_a_byte_is_read() -> None:
    read: list[Message] = []

    async def receive() -> Message:
        read.append({})
        return {"type": "http.request", "body": b"x" * 100, "more_body": True}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the body reached the app")

    guard = BodyGuardMiddleware(app, 1024, ["/predict"])
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1025")]
    asyncio.run(guard(http_scope("POST", "/predict", headers), receive, send))
    assert read == []
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_body_of_exactly_the_limit_is_read(small_limits_client: TestClient) -> None:
    text = "x" * (4096 - len('{"text": ""}'))
    payload = json.dumps({"text": text}).encode()
    assert len(payload) == 4096
    # Read and judged (too many characters), not refused for its size.
    response = small_limits_client.post("/predict", content=payload, headers=JSON)
    assert_error(response, 422, "validation_error")


def test_a_streamed_oversize_body_gets_413_and_close(small_limits_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(1000):  # no Content-Length: the size shows only as the body arrives
            yield (MARKER * 100).encode()

    response = small_limits_client.post("/predict", content=chunks(), headers=JSON)
    assert_error(response, 413, "payload_too_large")
    assert response.headers["connection"] == "close"


def test_the_guard_stops_reading_a_body_once_it_passes_the_limit() -> None:
    # The test client reads a streamed body whole before the app sees it, so the guard is called
    # directly here, with a client that would send 1,000 chunks of 100 bytes.
    received: list[int] = []

    async def receive() -> Message:
        received.append(1)
        return {"type": "http.request", "body": b"x" * 100, "more_body": len(received) < 1000}

    reached, sent = run_body_guard(receive, max_body_bytes=1024)
    assert len(received) == 11  # 1,100 bytes: the first chunk past 1,024
    assert not reached
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"


def test_a_streamed_body_of_exactly_the_limit_reaches_the_app_whole() -> None:
    # What the app behind the guard receives: the body in one message, then the client's own
    # messages (a disconnect here), which an app may wait for.
    client_messages: list[Message] = [
        {"type": "http.request", "body": b"x" * 1000, "more_body": True},
        {"type": "http.request", "more_body": True},  # ASGI: "body" may be left out
        {"type": "http.request", "body": b"y" * 24, "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]
    pending = iter(client_messages)
    seen: list[Message] = []

    async def receive() -> Message:
        return next(pending)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        seen.append(await receive())

    async def send(message: Message) -> None:
        raise AssertionError(f"the guard answered: {message}")

    guard = BodyGuardMiddleware(app, 1024, ["/predict"])
    scope = http_scope("POST", "/predict", [(b"content-type", b"application/json")])
    asyncio.run(guard(scope, receive, send))
    assert seen == [
        {"type": "http.request", "body": b"x" * 1000 + b"y" * 24, "more_body": False},
        {"type": "http.disconnect"},
    ]


def test_the_default_body_limit_is_one_mebibyte(client: TestClient) -> None:
    payload = b'{"texts": ["' + b"a" * (1024 * 1024) + b'"]}'
    assert_error(
        client.post("/predict/batch", content=payload, headers=JSON), 413, "payload_too_large"
    )


def test_wrong_methods_and_routes_get_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/predict"), 405, "method_not_allowed")
    assert_error(client.put("/predict/batch", json={"texts": [MARKER]}), 405, "method_not_allowed")
    assert_error(client.get(f"/{MARKER}"), 404, "not_found")
    redirect = client.post("/predict/", json={"text": MARKER}, follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (
        307,
        "http://testserver/predict",
    )
    assert MARKER not in redirect.text


def test_bad_input_is_refused_even_when_no_model_is_loaded(make_app: AppFactory) -> None:
    with TestClient(make_app(InMemoryModelRegistry())) as client:
        assert_error(client.post("/predict", json={"text": 1}), 422, "validation_error")
        assert_error(client.post("/predict", json={"text": MARKER}), 503, "model_not_ready")


def test_a_key_that_ends_in_a_newline_is_not_echoed_as_a_name(client: TestClient) -> None:
    # `$` also matches before a final newline: "name\n" passed for a name and came back whole.
    response = client.post("/predict", content=json.dumps({"text\n": MARKER}), headers=JSON)
    error = assert_error(response, 422, "validation_error")
    assert [d["field"] for d in error["details"]] == ["text", "<key>"]
    body = {"inputs": [MARKER], "inputs\n": 1}
    response = client.post("/invocations", content=json.dumps(body), headers=JSON)
    error = assert_error(response, 422, "validation_error")
    assert error["message"].endswith("found keys: inputs, <key>")
    assert "\\n" not in response.text


def test_a_request_id_that_ends_in_a_newline_is_replaced(client: TestClient) -> None:
    # uvicorn's parsers end a header line there, but the app must not rely on it: the id was
    # sent back as a response header with its newline.
    response = client.get("/health", headers={"X-Request-ID": "trace-1\n"})
    assert response.status_code == 200
    sent_back = response.headers["x-request-id"]
    assert sent_back != "trace-1\n"
    assert len(sent_back) == 16
    assert int(sent_back, 16) >= 0
    assert (
        client.get("/health", headers={"X-Request-ID": "trace-1"}).headers["x-request-id"]
        == "trace-1"
    )
