"""Live reload for real: uvicorn serving from an `mlflow server` on PostgreSQL. The API picks up
a promoted champion by itself, a forced reload and a rollback at once; a corrupt new version
never serves; with the registry stopped it keeps serving, and recovers by itself (also when it
started while the registry was away)."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from sentiment.entrypoints import registry as registry_cli
from sentiment.entrypoints import train
from tests.support.data import disjoint_samples, write_csv
from tests.support.local_http import free_port
from tests.support.mlflow_servers import fresh_database, server_process
from tests.support.processes import VENV_BIN, clean_env, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.mlflow_server]

TOKEN = "e2e-admin-token-0123456789"
INTERVAL_S = 1.0


def call(url: str, method: str = "GET", token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    if method == "POST" and url.endswith("/predict"):
        request.data = json.dumps({"text": "A wonderful film, I loved it!"}).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def served(api: str) -> str:
    status, body = call(f"{api}/predict", "POST")
    assert status == 200, body
    return str(body["model"]["version"])


def wait(condition: Any, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


@contextlib.contextmanager
def api_server(root: Path, name: str, registry_uri: str) -> Iterator[str]:
    port = free_port()
    env = clean_env(
        {
            "SENTIMENT_TRACKING_URI": registry_uri,
            "SENTIMENT_MODEL_NAME": "Live",
            "SENTIMENT_RELOAD_INTERVAL_S": str(INTERVAL_S),
            "SENTIMENT_ADMIN_TOKEN": TOKEN,
            "SENTIMENT_STARTUP_WAIT_S": "0",
            "SENTIMENT_LOAD_RETRY_MAX_S": "2",
        }
    )
    command = [str(VENV_BIN / "uvicorn"), "sentiment.entrypoints.api:app", "--port", str(port)]
    work = root / name
    work.mkdir()
    with running_server(command, f"http://127.0.0.1:{port}/health", work / "api.log", env, work):
        yield f"http://127.0.0.1:{port}"


def corrupt(artifacts: Path, model_id: str) -> dict[Path, bytes]:
    """Break the version's model files: the skops model (MLflow's client, the CLIs) and the
    serving file (the API's lean reader). Returns their original bytes."""
    originals: dict[Path, bytes] = {}
    for name in ("model.skops", "serving.npz"):
        (model_file,) = artifacts.rglob(f"{model_id}/artifacts/{name}")
        originals[model_file] = model_file.read_bytes()
        model_file.write_bytes(b"PK-but-not-really-a-zip")
    return originals


def test_the_api_follows_the_registry_through_promotion_faults_and_outages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SENTIMENT_MODEL_NAME", "Live")
    (train_rows,) = disjoint_samples([600], seed=51)
    data = str(write_csv(tmp_path / "train.csv", train_rows))
    timings: dict[str, float] = {}
    with fresh_database() as database, contextlib.ExitStack() as running:
        port = free_port()
        uri = f"http://127.0.0.1:{port}"
        registry_up = contextlib.ExitStack()
        running.callback(lambda: registry_up.close())
        server = registry_up.enter_context(server_process(tmp_path, database, port))
        for bits in ("16", "3"):  # version 1 champion, version 2 challenger
            args = ["--data", data, "--model-type", "tfidf-lr", "-p", f"n_features_log2={bits}"]
            code = train.main([*args, "--promotion-floor", "0.6", "--tracking-uri", uri, "-q"])
            assert code == 0, capsys.readouterr().err

        api = running.enter_context(api_server(tmp_path, "api", uri))
        wait(lambda: call(f"{api}/ready")[0] == 200, 60, "the API to be ready")
        assert served(api) == "1"

        # 1. A promotion reaches the API by itself, within an interval plus the load.
        assert registry_cli.main(["promote", "2", "--reason", "e2e", "--tracking-uri", uri]) == 0
        timings["promotion_to_serving_s"] = wait(lambda: served(api) == "2", 30, "version 2")

        # 2. A rollback and a forced reload: served when the call returns.
        assert registry_cli.main(["rollback", "--tracking-uri", uri]) == 0
        started = time.monotonic()
        status, body = call(f"{api}/admin/reload", "POST", TOKEN)
        timings["forced_reload_s"] = time.monotonic() - started
        # Served when the call returns. The 1-s watcher may have swapped it in first: the
        # rollback's own bookkeeping after the alias moved (a check of the new holder, the old
        # one's `until` tags) takes a few round trips; then the forced check finds it unchanged.
        assert (status, body["serving"]) == (200, "1"), body
        assert body["outcome"] in ("swapped", "unchanged"), body
        assert served(api) == "1"

        # 3. Version 2's artifact gets corrupted. Our CLI refuses to promote it; moved by hand
        # (the MLflow UI, say), the API never serves it, and says so.
        originals = corrupt(server.artifacts, model_id(uri, "2"))
        capsys.readouterr()
        assert registry_cli.main(["promote", "2", "--reason", "again", "--tracking-uri", uri]) == 1
        assert "cannot read model file" in capsys.readouterr().err
        MlflowClient(uri, registry_uri=uri).set_registered_model_alias("Live", "champion", "2")
        status, body = call(f"{api}/admin/reload", "POST", TOKEN)
        assert (status, body["error"]["code"]) == (503, "model_load_failed"), body
        assert "version 2 is not served (still serving version 1)" in body["error"]["message"]
        assert served(api) == "1"
        assert call(f"{api}/model")[1]["last_load_failure"]["error_type"] == "ModelLoadError"

        # 4. The registry goes away: the API keeps serving and says why.
        registry_up.close()
        checks = call(f"{api}/model")[1]["reload"]["checks"]
        wait(lambda: call(f"{api}/model")[1]["reload"]["checks"] >= checks + 2, 60, "checks")
        assert served(api) == "1"
        assert call(f"{api}/model")[1]["reload"]["last_outcome"] == "unreachable"

        # 5. An API started while the registry is away comes up, not ready.
        late = running.enter_context(api_server(tmp_path, "api-late", uri))
        status, body = call(f"{late}/ready")
        assert (status, body["error"]["code"]) == (503, "model_not_ready"), body
        assert call(f"{late}/health")[0] == 200

        # 6. The registry is back and the artifact repaired: both recover by themselves.
        for model_file, original in originals.items():
            model_file.write_bytes(original)
        registry_up = contextlib.ExitStack()
        registry_up.enter_context(server_process(tmp_path, database, port))
        timings["recovery_s"] = wait(lambda: served(api) == "2", 60, "recovery")
        wait(lambda: call(f"{late}/ready")[0] == 200, 60, "the late API to be ready")
        assert served(late) == "2"
    capsys.readouterr()
    print(f"live reload timings: {json.dumps(timings)}")


def model_id(uri: str, version: str) -> str:
    source = MlflowClient(uri, registry_uri=uri).get_model_version("Live", version).source
    return str(source).removeprefix("models:/")
