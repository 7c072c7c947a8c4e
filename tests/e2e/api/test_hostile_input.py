"""A corpus of hostile input, sent over raw HTTP (http.client and sockets, which send exactly what
they are given) to the real API under uvicorn. Every case gets a clear 4xx in the one error shape
or a correct prediction; none gets a 5xx, a stack trace, or its text echoed back.

The results table (case, status, outcome) is printed at the end of the module and written to
`$SENTIMENT_HOSTILE_TABLE` when that is set (docs/security.md quotes it).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sentiment.entrypoints.api import schemas
from tests.e2e.api.conftest import Api, Store, running_api
from tests.support.api import MARKER

pytestmark = pytest.mark.e2e

BODY_TIMEOUT_S = 2  # the server's SENTIMENT_BODY_TIMEOUT_S for this module
JSON_TYPE = {"Content-Type": "application/json"}
TEN_MB = 10 * 1024 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Case:
    name: str
    send: Callable[[str, int], Answer]
    expect: int  # the status; 200 means "a correct prediction"
    code: str = ""  # the error code, for a 4xx


@dataclass
class Results:
    rows: list[tuple[str, int, str]] = field(default_factory=list)

    def table(self) -> str:
        lines = ["| case | status | outcome |", "|---|---|---|"]
        lines += [f"| {name} | {status} | {outcome} |" for name, status, outcome in self.rows]
        return "\n".join(lines)


def request(
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Callable[[str, int], Answer]:
    """Send with http.client: the body as given, Content-Length set, no other header added."""

    def send(host: str, port: int) -> Answer:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    return send


def post_json(path: str, value: object) -> Callable[[str, int], Answer]:
    return request("POST", path, json.dumps(value).encode("utf-8"), JSON_TYPE)


def raw(payload: bytes, pause_s: float = 0.0, drip: bytes = b"") -> Callable[[str, int], Answer]:
    """Send raw bytes on a socket; then, if `drip`, one byte of it every `pause_s` seconds (for
    longer than the server's body timeout). The answer is read while sending (a server may answer
    413 and close before a large body is all sent), until the server closes."""

    def send(host: str, port: int) -> Answer:
        with socket.create_connection((host, port), timeout=60) as sock:

            def write() -> None:
                try:
                    sock.sendall(payload)
                    for byte in drip:
                        time.sleep(pause_s)
                        sock.sendall(bytes([byte]))
                except OSError:
                    pass  # the server answered and closed: stop sending

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            data = b""
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass  # after its answer, the server reset the connection we were still filling
            writer.join(timeout=60)
        return parse_raw(data)

    return send


def with_length(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def parse_raw(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return Answer(int(status_line.split()[1]), headers, body)


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, body = out + rest[:size], rest[size + 2 :]
    return out


def stalled_head(length: int) -> bytes:
    return (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


def chunked_ten_mb() -> bytes:
    chunk = (MARKER * 6000).encode()  # 66 KB
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(TEN_MB // len(chunk) + 1)]
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head + b'11\r\n{"text": "' + b"x" * 7 + b"\r\n" + b"".join(parts) + b"0\r\n\r\n"


SLOW_BODY = ('{"text": "' + MARKER + ' slow"}').encode()
DEEP = ("[" * 100_000 + "]" * 100_000).encode()

CASES = [
    Case("empty body", request("POST", "/predict", b"", JSON_TYPE), 400, "invalid_json"),
    Case(
        "whitespace body", request("POST", "/predict", b" \r\n\t ", JSON_TYPE), 400, "invalid_json"
    ),
    Case("JSON null body", post_json("/predict", None), 422, "validation_error"),
    Case("empty text", post_json("/predict", {"text": ""}), 422, "validation_error"),
    Case(
        "whitespace text",
        post_json("/predict", {"text": " \t\n\u3000\u2028"}),
        422,
        "validation_error",
    ),
    Case("null text", post_json("/predict", {"text": None}), 422, "validation_error"),
    Case("number text", post_json("/predict", {"text": 12345}), 422, "validation_error"),
    Case("boolean text", post_json("/predict", {"text": True}), 422, "validation_error"),
    Case(
        "nested object",
        post_json("/predict", {"text": {"a": {"b": [MARKER]}}}),
        422,
        "validation_error",
    ),
    Case("array body", post_json("/predict", [MARKER]), 422, "validation_error"),
    Case("100,000-deep nesting", request("POST", "/predict", DEEP, JSON_TYPE), 400, "invalid_json"),
    Case(
        "number 1e999",
        request("POST", "/predict", b'{"text": 1e999}', JSON_TYPE),
        400,
        "invalid_json",
    ),
    Case(
        "extra field",
        post_json("/predict", {"text": MARKER, "debug": True}),
        422,
        "validation_error",
    ),
    Case(
        "10 MB body (Content-Length)",
        raw(with_length("/predict", b'{"text": "' + MARKER.encode() * (TEN_MB // 11) + b'"}')),
        413,
        "payload_too_large",
    ),
    Case("10 MB body (chunked)", raw(chunked_ten_mb()), 413, "payload_too_large"),
    Case(
        "1,000,000-character text",
        post_json("/predict", {"text": (MARKER + " ") * 83_334}),
        422,
        "validation_error",
    ),
    Case(
        "invalid UTF-8",
        request(
            "POST", "/predict", b'{"text": "' + MARKER.encode() + b' \xc3\x28 \xff"}', JSON_TYPE
        ),
        400,
        "invalid_utf8",
    ),
    Case(
        "lone surrogate escape",
        request("POST", "/predict", b'{"text": "a \\ud800 b"}', JSON_TYPE),
        400,
        "invalid_json",
    ),
    Case(
        "invalid JSON",
        request("POST", "/predict", b'{"text": "' + MARKER.encode() + b'",}', JSON_TYPE),
        400,
        "invalid_json",
    ),
    Case(
        "raw NUL byte in JSON",
        request("POST", "/predict", b'{"text": "a\x00b ' + MARKER.encode() + b'"}', JSON_TYPE),
        400,
        "invalid_json",
    ),
    Case(
        "missing Content-Type",
        request("POST", "/predict", json.dumps({"text": MARKER}).encode()),
        415,
        "unsupported_media_type",
    ),
    Case(
        "Content-Type text/plain",
        request(
            "POST",
            "/predict",
            json.dumps({"text": MARKER}).encode(),
            {"Content-Type": "text/plain"},
        ),
        415,
        "unsupported_media_type",
    ),
    Case(
        "charset latin-1",
        request(
            "POST",
            "/predict",
            json.dumps({"text": MARKER}).encode(),
            {"Content-Type": "application/json; charset=latin-1"},
        ),
        415,
        "unsupported_media_type",
    ),
    Case(
        "oversized batch (257)",
        post_json("/predict/batch", {"texts": [MARKER] * 257}),
        422,
        "validation_error",
    ),
    Case("empty batch", post_json("/predict/batch", {"texts": []}), 422, "validation_error"),
    Case(
        "invocations, nested rows",
        post_json("/invocations", {"dataframe_records": [{"text": {"x": MARKER}}]}),
        422,
        "validation_error",
    ),
    Case("escaped NUL in text", post_json("/predict", {"text": f"great\u0000film {MARKER}"}), 200),
    Case(
        "only zero-width characters",
        post_json("/predict", {"text": "\u200b\u200c\u200d\u2060"}),
        200,
    ),
    Case(
        "zero-width inside words",
        post_json("/predict", {"text": f"won\u200bder\u200dful {MARKER}"}),
        200,
    ),
    Case(
        "RTL text with override marks",
        post_json("/predict", {"text": f"\u202eفيلم رائع\u202c עברית \u200f{MARKER}"}),
        200,
    ),
    Case("emoji", post_json("/predict", {"text": f"😀🎬👍🏽 loved it {MARKER}"}), 200),
    Case(
        "HTML and script",
        post_json("/predict", {"text": f"<script>alert('{MARKER}')</script>"}),
        200,
    ),
    Case(
        "BOM before the JSON",
        request(
            "POST", "/predict", b"\xef\xbb\xbf" + json.dumps({"text": MARKER}).encode(), JSON_TYPE
        ),
        200,
    ),
    Case(
        "duplicate keys",
        request(
            "POST",
            "/predict",
            b'{"text": "bad", "text": "good ' + MARKER.encode() + b'"}',
            JSON_TYPE,
        ),
        200,
    ),
    Case(
        "hostile X-Request-ID",
        request(
            "POST",
            "/predict",
            json.dumps({"text": MARKER}).encode(),
            {**JSON_TYPE, "X-Request-ID": f"<b>{MARKER}</b>"},
        ),
        200,
    ),
    Case(
        "slow-loris: body stalls",
        raw(stalled_head(len(SLOW_BODY)) + SLOW_BODY[:10], 0.4, b" " * 1),
        408,
        "request_timeout",
    ),
    Case(
        "slow-loris: body drips",
        raw(stalled_head(len(SLOW_BODY)), 0.5, SLOW_BODY),
        408,
        "request_timeout",
    ),
    Case("GET on /predict", request("GET", "/predict"), 405, "method_not_allowed"),
    Case("unknown path", request("GET", f"/{MARKER}"), 404, "not_found"),
]


@pytest.fixture(scope="module")
def hostile_api(trained_store: Store) -> Iterator[Api]:
    with running_api(trained_store, "hostile.log", body_timeout_s=str(BODY_TIMEOUT_S)) as api:
        yield api


@pytest.fixture(scope="module")
def results(hostile_api: Api) -> Iterator[Results]:
    collected = Results()
    yield collected
    table = collected.table()
    print(f"\nHostile input against uvicorn ({len(collected.rows)} cases):\n{table}")
    target = os.environ.get("SENTIMENT_HOSTILE_TABLE")
    if target:
        Path(target).write_text(table + "\n", encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_gets_a_clear_answer(hostile_api: Api, results: Results, case: Case) -> None:
    host, port = hostile_api.url.removeprefix("http://").split(":")
    answer = case.send(host, int(port))
    text = answer.body.decode("utf-8", "replace")
    outcome = describe(answer)
    results.rows.append((case.name, answer.status, outcome))

    assert answer.status < 500, text
    assert "Traceback" not in text
    assert 'File "' not in text
    assert MARKER not in text, "the text came back"
    assert answer.status == case.expect, text
    if answer.status == 200:
        prediction = schemas.PredictResponse.model_validate_json(answer.body)
        assert prediction.label in ("negative", "positive")
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
        if case.name == "hostile X-Request-ID":
            assert MARKER not in answer.headers["x-request-id"]
    else:
        error = schemas.ErrorResponse.model_validate_json(answer.body).error
        assert error.code == case.code, text
        assert error.request_id == answer.headers["x-request-id"]


def describe(answer: Answer) -> str:
    try:
        body = json.loads(answer.body)
    except ValueError:
        return f"non-JSON body ({len(answer.body)} bytes)"
    if "error" in body:
        return f"`{body['error']['code']}`: {body['error']['message'][:90]}"
    if "label" in body:
        return f"prediction `{body['label']}` ({body['confidence']:.2f})"
    return "JSON"


def test_the_server_survived_the_corpus(hostile_api: Api) -> None:
    host, port = hostile_api.url.removeprefix("http://").split(":")
    answer = post_json("/predict", {"text": "A wonderful film, I loved it!"})(host, int(port))
    assert answer.status == 200
    log = hostile_api.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert MARKER not in log
