"""The real API under uvicorn, over HTTP: predictions, every bad input, the README's curl."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sentiment.entrypoints.api import schemas
from tests.e2e.api.conftest import Api, Store, running_api
from tests.support.api import JSON, MARKER, assert_error
from tests.support.data import REPO_ROOT
from tests.support.local_http import free_port

pytestmark = pytest.mark.e2e
CURL_EXAMPLES = REPO_ROOT / "docs" / "curl-examples.sh"
README = REPO_ROOT / "README.md"


def post(api: Api, route: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{api.url}{route}", timeout=30, **kwargs)


def test_predict_batch_invocations_and_model_over_http(api: Api) -> None:
    trained = api.store.trained
    single = post(api, "/predict", json={"text": "A wonderful film, I loved it!"})
    assert single.status_code == 200
    body = schemas.PredictResponse.model_validate(single.json())
    assert body.model.version == trained["model_version"]
    assert re.fullmatch(r"[0-9a-f]{16}", single.headers["x-request-id"])

    texts = ["Superb!", "Dreadful.", "素晴らしい 😀", "<b>ok</b>"]
    batch = post(api, "/predict/batch", json={"texts": texts})
    assert batch.status_code == 200
    assert len(batch.json()["predictions"]) == 4
    invocations = post(api, "/invocations", json={"instances": texts})
    assert invocations.json() == {"predictions": [p["label"] for p in batch.json()["predictions"]]}

    info = httpx.get(f"{api.url}/model").json()
    assert (info["version"], info["alias"], info["run_id"]) == (
        trained["model_version"],
        "champion",
        trained["run_id"],
    )
    assert info["metrics"]["accuracy"] == pytest.approx(trained["metrics"]["accuracy"])
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'sentiment_http_requests_total{method="POST",route="/predict",status="200"}' in metrics


BAD_JSON: dict[str, tuple[str, Any, int, str]] = {
    "empty text": ("/predict", {"text": ""}, 422, "validation_error"),
    "whitespace": ("/predict", {"text": " \n\t "}, 422, "validation_error"),
    "missing field": ("/predict", {"texts": [MARKER]}, 422, "validation_error"),
    "number": ("/predict", {"text": 1}, 422, "validation_error"),
    "null": ("/predict", {"text": None}, 422, "validation_error"),
    "list": ("/predict", {"text": [MARKER]}, 422, "validation_error"),
    "object": ("/predict", {"text": {"nested": MARKER}}, 422, "validation_error"),
    "too long": ("/predict", {"text": MARKER * 5000}, 422, "validation_error"),
    "batch empty": ("/predict/batch", {"texts": []}, 422, "validation_error"),
    "batch over limit": ("/predict/batch", {"texts": [MARKER] * 257}, 422, "validation_error"),
    "batch wrong item": ("/predict/batch", {"texts": [MARKER, 5]}, 422, "validation_error"),
    "invocations no key": ("/invocations", {"data": [MARKER]}, 422, "validation_error"),
}


@pytest.mark.parametrize("case", list(BAD_JSON.values()), ids=list(BAD_JSON))
def test_bad_json_gets_a_clear_4xx(api: Api, case: tuple[str, Any, int, str]) -> None:
    route, body, status, code = case
    assert_error(post(api, route, content=json.dumps(body), headers=JSON), status, code)


@pytest.mark.parametrize(
    ("payload", "headers", "status", "code"),
    [
        (b'{"text": "' + MARKER.encode() + b'\xff"}', JSON, 400, "invalid_utf8"),
        (b'{"text": "' + MARKER.encode(), JSON, 400, "invalid_json"),
        (b'{"text": "' + MARKER.encode() + b'"}', {"content-type": "text/plain"}, 415, ""),
        (b'{"text": "' + MARKER.encode() + b'"}', {}, 415, "unsupported_media_type"),
    ],
    ids=["invalid utf-8", "invalid json", "wrong content type", "no content type"],
)
def test_bad_bytes_and_content_types(
    api: Api, payload: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    assert_error(
        post(api, "/predict", content=payload, headers=headers),
        status,
        code or "unsupported_media_type",
    )


def test_a_ten_megabyte_body_gets_413_unread(api: Api) -> None:
    payload = b'{"text": "' + MARKER.encode() * (10 * 1024 * 1024 // len(MARKER)) + b'"}'
    response = post(api, "/predict", content=payload, headers=JSON)
    assert_error(response, 413, "payload_too_large")
    # The server is fine afterwards.
    assert post(api, "/predict", json={"text": "fine"}).status_code == 200


def test_a_chunked_oversize_body_gets_413(api: Api) -> None:
    def chunks() -> Any:
        for _ in range(64):
            yield (MARKER * 4000).encode()  # 44 KB each, 2.8 MB in all

    response = post(api, "/predict", content=chunks(), headers=JSON)
    assert_error(response, 413, "payload_too_large")


def test_a_raw_request_with_a_lying_content_length_does_not_hang_or_crash(api: Api) -> None:
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n" + b'{"text": "' + MARKER.encode()
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413")
    assert MARKER.encode() not in answer


def test_the_readme_curl_examples_run_as_written(api: Api) -> None:
    completed = subprocess.run(
        ["bash", str(CURL_EXAMPLES)],
        env={"SENTIMENT_URL": api.url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    answers = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    predict, batch, invocations, model, ready, bad = answers
    schemas.PredictResponse.model_validate(predict)
    assert predict["label"] == "positive"
    assert [p["label"] for p in batch["predictions"]] == ["positive", "negative"]
    assert invocations == {"predictions": ["positive", "negative"]}
    assert model["version"] == api.store.trained["model_version"]
    assert ready["status"] == "ready"
    assert bad["error"]["code"] == "validation_error"


def curl_commands(script: str) -> list[str]:
    """Each curl command of the script, with its continuation lines joined."""
    commands, current = [], ""
    for line in script.splitlines():
        if line.startswith("curl") or current:
            current += line.rstrip("\\").rstrip() + " "
            if not line.endswith("\\"):
                commands.append(" ".join(current.split()))
                current = ""
    return commands


def test_the_readme_quotes_the_curl_examples_verbatim() -> None:
    readme = " ".join(README.read_text().replace("\\\n", " ").split())
    commands = curl_commands(CURL_EXAMPLES.read_text())
    assert len(commands) == 6
    for command in commands:
        assert command in readme, command


def test_starts_and_stays_up_with_the_registry_away(trained_store: Store, tmp_path: Path) -> None:
    away = Store(
        tmp_path, f"http://127.0.0.1:{free_port()}", tmp_path / "artifacts", trained_store.trained
    )
    with running_api(
        away, "away.log", ready_path="/health", load_retry_max_s="1", startup_wait_s="2"
    ) as api:
        time.sleep(0.5)
        error = assert_error(httpx.get(f"{api.url}/ready"), 503, "model_not_ready")
        assert "unreachable" in error["message"] or "in progress" in error["message"]
        assert_error(post(api, "/predict", json={"text": MARKER}), 503, "model_not_ready")
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert api.process.returncode in (0, -15)
    log = api.log.read_text()
    assert "Application shutdown complete" in log  # no hang while the loader still retries
    assert "Traceback" not in log


def test_the_readme_s_uvicorn_command_with_the_bounded_protocol_bounds_the_head(
    trained_store: Store,
) -> None:
    """README: `uvicorn sentiment.entrypoints.api:app --http <BoundedHttpToolsProtocol>`."""
    readme = " ".join(README.read_text().split())
    option = "--http sentiment.entrypoints.bounded_http:BoundedHttpToolsProtocol"
    assert f"uvicorn sentiment.entrypoints.api:app {option}" in readme
    with running_api(trained_store, "bounded.log", uvicorn_options=option.split()) as api:
        assert post(api, "/predict", json={"text": MARKER}).status_code == 200
        host, port = api.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            # One write, just over the 16 KiB bound, read whole: the answer is not lost to a reset.
            sock.sendall(
                b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17_000 + b"\r\n\r\n"
            )
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b'"code":"header_too_large"' in answer
        assert post(api, "/predict", json={"text": MARKER}).status_code == 200
    assert "answered 431" in api.log.read_text()
