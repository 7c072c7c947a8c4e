"""Structured access logs (lengths, never texts) and the body timeout against slow clients."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from sentiment.entrypoints.api.logs import (
    ACCESS_LOGGER,
    MAX_MESSAGE_CHARS,
    JsonFormatter,
    configure_logging,
    set_access_log,
)
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


class Collected(logging.Handler):
    """A supervisor's handler on the root logger: every record that reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def root_handler() -> Iterator[Collected]:
    """Process-wide loggers as a server process starts them (the root at WARNING with a handler,
    the others fresh: no handler, no level, propagating, enabled), put back afterwards (an
    earlier test may have run uvicorn's dictConfig, which disables the loggers it finds)."""
    names = ("", "sentiment", "sentiment.api", "uvicorn", "uvicorn.error", "uvicorn.access")
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate, lg.disabled) for lg in loggers]
    for logger in loggers[1:]:
        logger.handlers = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        logger.disabled = False
    collected = Collected()
    root = logging.getLogger()
    root.addHandler(collected)
    root.setLevel(logging.WARNING)
    try:
        yield collected
    finally:
        for logger, handlers, level, propagate, disabled in saved:
            logger.handlers = handlers
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def test_ours_and_uvicorn_s_lines_are_json_on_stderr_once(
    root_handler: Collected, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(logging.INFO)
    logging.getLogger("sentiment.api").info("model loaded")
    logging.getLogger("sentiment.api").debug("below the level")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").info("uvicorn's own access line, with the client address")
    try:
        raise ValueError(f"cannot decode {MARKER}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["level"], line["msg"]) for line in lines] == [
        ("sentiment.api", "info", "model loaded"),
        ("uvicorn.error", "info", "Started server process"),
        ("uvicorn.error", "error", "Exception in ASGI application"),
    ]
    # uvicorn's exception is on the request path: its type and frames, never its message.
    assert lines[2]["exc_type"] == "builtins.ValueError"
    assert "exc_message" not in lines[2]
    assert MARKER not in json.dumps(lines)
    assert root_handler.records == []  # not a second time through the root logger


def test_uvicorn_s_own_handlers_are_kept_and_write_json(
    root_handler: Collected, capsys: pytest.CaptureFixture[str]
) -> None:
    # `uvicorn --log-config` (or its default dictConfig) installed its handlers before the app.
    stream = io.StringIO()
    own = logging.StreamHandler(stream)
    own.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    server = logging.getLogger("uvicorn")
    server.handlers = [own]
    server.setLevel(logging.INFO)
    configure_logging(logging.INFO)
    logging.getLogger("uvicorn.error").info("Started server process")
    assert server.handlers == [own]
    line = json.loads(stream.getvalue())
    assert (line["logger"], line["msg"]) == ("uvicorn.error", "Started server process")
    assert capsys.readouterr().err == ""
    assert root_handler.records == []


def test_a_long_message_is_cut_in_the_log() -> None:
    formatter = JsonFormatter()
    text = "0123456789" * 1_000
    try:
        raise RuntimeError(text)
    except RuntimeError as exc:
        record = logging.LogRecord(
            "sentiment.api", 40, "f", 1, "%s", (text,), (RuntimeError, exc, exc.__traceback__)
        )
    line = json.loads(formatter.format(record))
    assert line["msg"] == text[:MAX_MESSAGE_CHARS]
    assert line["exc_message"] == text[:MAX_MESSAGE_CHARS]
    assert 1_000 <= len(line["msg"]) < len(text)  # cut, yet with enough to read
