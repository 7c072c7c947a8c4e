"""Structured access logs (lengths, never texts) and the body timeout against slow clients."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from sentiment.entrypoints.api.logs import ACCESS_LOGGER, JsonFormatter, set_access_log
from tests.support.api import JSON, MARKER, AppFactory, http_scope, run_body_guard


def access_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]


def test_one_access_line_per_request_with_lengths_and_version(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    client.post("/predict", json={"text": MARKER}, headers={"X-Request-ID": "req-1"})
    client.post("/predict/batch", json={"texts": [MARKER, MARKER * 3]})
    client.post("/predict", json={"text": " "})
    client.get(f"/{MARKER}")

    lines = access_records(caplog)
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/predict", 200),
        ("POST", "/predict/batch", 200),
        ("POST", "/predict", 422),
        ("GET", "unmatched", 404),  # unknown paths are not written: they could carry anything
    ]
    single, batch, blank, _ = lines
    assert single["request_id"] == "req-1"
    assert (single["texts"], single["text_chars"], single["model_version"]) == (1, len(MARKER), "1")
    assert (batch["texts"], batch["text_chars"], batch["text_chars_max"]) == (
        2,
        4 * len(MARKER),
        3 * len(MARKER),
    )
    assert "texts" not in blank
    assert blank["body_bytes"] == len(b'{"text":" "}')
    assert all(line["duration_ms"] >= 0 and line["level"] == "info" for line in lines)
    assert MARKER not in caplog.text


def test_the_access_line_of_an_invocation_has_lengths_and_version(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    body = {"dataframe_split": {"columns": ["text"], "data": [[MARKER * 2], [MARKER]]}}
    assert client.post("/invocations", json=body).status_code == 200
    (line,) = access_records(caplog)
    assert (line["path"], line["texts"], line["text_chars"], line["text_chars_max"]) == (
        "/invocations",
        2,
        3 * len(MARKER),
        2 * len(MARKER),
    )
    assert line["model_version"] == "1"
    assert MARKER not in caplog.text


def test_request_path_exceptions_are_logged_without_their_message() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError(f"cannot classify {MARKER}")
    except ValueError as exc:
        on_request = logging.LogRecord(
            "sentiment.api", 40, "f", 1, "boom", (), (ValueError, exc, exc.__traceback__)
        )
        on_request.request_id = "abc"
        elsewhere = logging.LogRecord(
            "sentiment.api", 40, "f", 1, "load", (), (ValueError, exc, exc.__traceback__)
        )
    redacted = json.loads(formatter.format(on_request))
    assert redacted["exc_type"] == "builtins.ValueError"
    assert redacted["stack"]
    assert redacted["request_id"] == "abc"
    assert MARKER not in json.dumps(redacted)
    assert MARKER in json.loads(formatter.format(elsewhere))["exc_message"]


def test_the_access_line_can_be_turned_off(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    try:
        set_access_log(False)  # `serve --no-access-log`
        client.post("/predict", json={"text": MARKER})
        assert access_records(caplog) == []
        set_access_log(True)
        client.post("/predict", json={"text": MARKER})
        assert [r["path"] for r in access_records(caplog)] == ["/predict"]
    finally:
        set_access_log(True)


def test_the_app_starting_and_stopping_is_not_a_request(
    make_app: AppFactory, registry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with TestClient(make_app(registry)) as client:  # startup and shutdown: the ASGI lifespan
        client.get("/health")
    assert [(r["path"], r["status"]) for r in access_records(caplog)] == [("/health", 200)]


def test_the_access_line_times_the_whole_request_in_milliseconds(
    make_app: AppFactory, registry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    body = json.dumps({"text": "fine"}).encode()

    async def receive() -> Message:
        await asyncio.sleep(0.05)  # a client that takes 50 ms to send its body
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        pass

    headers = [(b"content-type", b"application/json")]
    asyncio.run(make_app(registry)(http_scope("POST", "/predict", headers), receive, send))
    (line,) = access_records(caplog)
    assert line["path"] == "/predict"  # (503: no lifespan ran, so no model is loaded)
    assert line["msg"] == "request"
    assert "body_bytes" not in line  # no Content-Length was declared
    assert 50 <= line["duration_ms"] < 10_000


class _SlowBody:
    """An ASGI receive that sends half a body, then nothing more."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> Message:
        self.calls += 1
        if self.calls == 1:
            return {"type": "http.request", "body": b'{"text": "', "more_body": True}
        await asyncio.sleep(30)
        return {"type": "http.disconnect"}


def test_a_body_slower_than_the_timeout_gets_408_and_close() -> None:
    reached, sent = run_body_guard(_SlowBody(), body_timeout_s=0.05)
    assert not reached
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == "request_timeout"
    assert error["message"] == ("the body did not arrive within 0.05 s (SENTIMENT_BODY_TIMEOUT_S)")


def test_the_body_timeout_is_a_setting(make_app: AppFactory, registry: Any) -> None:
    app = make_app(registry, body_timeout_s=0.5)
    with TestClient(app) as client:
        assert client.post("/predict", json={"text": "fine"}, headers=JSON).status_code == 200
        spec = client.get("/openapi.json").json()
    assert "408" in spec["paths"]["/predict"]["post"]["responses"]


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.disconnect"}],
        [
            {"type": "http.request", "body": b'{"text": "' + MARKER.encode(), "more_body": True},
            {"type": "http.disconnect"},
        ],
    ],
    ids=["before the body", "mid-body"],
)
def test_a_client_that_goes_away_before_its_body_ends_gets_no_answer(
    make_app: AppFactory, registry: Any, messages: list[Message], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    # The app called directly: the test client cannot disconnect halfway through a body.
    pending = iter(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return next(pending)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope("POST", "/predict", [(b"content-type", b"application/json")])
    app = make_app(registry)
    asyncio.run(app(scope, receive, send))
    assert sent == []  # a half body is neither parsed (400) nor classified: nobody is listening
    assert next(pending, None) is None  # every message was read, the disconnect last
    # Counted as 499 (the client closed), not as a 500 of the server's.
    (line,) = access_records(caplog)
    assert line["status"] == 499
    with TestClient(app) as client:
        metrics = client.get("/metrics").text
    assert 'route="/predict",status="499"' in metrics.replace('method="POST",', "")
    assert 'status="500"' not in metrics
