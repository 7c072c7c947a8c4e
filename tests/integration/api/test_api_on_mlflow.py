"""The API over the real MLflow registry: train into a temporary SQLite store, serve, predict;
start with the store empty or the server away, then become ready by itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sentiment.adapters.hashed_linear_classifier import HashedLinearClassifier
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.application.train_model import TrainModelCommand, TrainModelResult
from sentiment.entrypoints.api import create_app
from sentiment.entrypoints.container import Container, build_container
from sentiment.entrypoints.settings import Settings
from tests.support.api import FAST_RETRY, SMALL_PARAMS, assert_error, write_sample_csv
from tests.support.local_http import free_port
from tests.support.processes import VENV_BIN, running_server, venv_env


def mlflow_container(root: Path, data: Path, **overrides: Any) -> Container:
    values: dict[str, Any] = {
        "registry": "mlflow",
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifact_root": str(root / "artifacts"),
        "data": str(data),
        "model_type": "nblr",
        "hyperparameters": SMALL_PARAMS,
        # A model of 300 reviews does not reach the default floor (0.80); it must be champion.
        "promotion_floor": 0.0,
        **FAST_RETRY,
        **overrides,
    }
    return build_container(Settings(**values))


def train(container: Container) -> TrainModelResult:
    command = TrainModelCommand(model_type="nblr", hyperparameters=SMALL_PARAMS)
    result: TrainModelResult = container.train_model().execute(command)
    return result


def wait_not_ready_because(client: TestClient, reason: str, timeout_s: float = 60.0) -> None:
    """Wait until /ready says why it is not ready (the first attempt may still be running)."""
    deadline = time.monotonic() + timeout_s
    while True:
        error = assert_error(client.get("/ready"), 503, "model_not_ready")
        if reason in error["message"]:
            return
        assert time.monotonic() < deadline, error["message"]
        time.sleep(0.1)


def wait_ready(client: TestClient, timeout_s: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    response: httpx.Response = client.get("/ready")
    while response.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = client.get("/ready")
    return response


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_csv(tmp_path_factory.mktemp("data") / "sample.csv")


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory: pytest.TempPathFactory, data_csv: Path) -> tuple[Path, Any]:
    """A SQLite MLflow store with one trained version (@champion), and what training said."""
    root = tmp_path_factory.mktemp("store")
    return root, train(mlflow_container(root, data_csv))


@pytest.mark.parametrize("reader", ["lean", "mlflow"])
def test_serves_the_trained_champion_from_mlflow(
    trained_store: tuple[Path, TrainModelResult], data_csv: Path, reader: str
) -> None:
    root, result = trained_store
    container = mlflow_container(root, data_csv, serving_reader=reader)
    with TestClient(create_app(container)) as client:
        info = client.get("/model").json()
        assert info["name"] == result.model_name
        assert info["version"] == result.model_version
        assert (info["alias"], info["resolved_by"]) == ("champion", "alias")
        assert info["run_id"] == result.run_id
        assert info["metrics"]["accuracy"] == pytest.approx(result.metrics["accuracy"])
        assert info["metrics"]["f1_macro"] == pytest.approx(result.metrics["f1_macro"])
        assert info["dataset_digest"]
        assert info["model_type"] == "nblr"

        texts = ["A wonderful film, I loved it!", "Boring, awful and far too long."]
        expected = container.registry().load(result.model_version).predict(texts)
        single = client.post("/predict", json={"text": texts[0]}).json()
        batch = client.post("/predict/batch", json={"texts": texts}).json()
        invocations = client.post("/invocations", json={"inputs": texts}).json()

    served = container.served_model().current
    assert served is not None
    # The lean reader serves the numpy model of serving.npz; MLflow's client the skops one.
    kind = HashedLinearClassifier if reader == "lean" else SklearnClassifier
    assert isinstance(served.classifier, kind)
    assert single["label"] == expected[0].label
    assert single["probabilities"] == pytest.approx(dict(expected[0].probabilities), abs=1e-6)
    assert single["model"] == {"name": result.model_name, "version": result.model_version}
    assert [p["label"] for p in batch["predictions"]] == [p.label for p in expected]
    assert invocations == {"predictions": [p.label for p in expected]}


SERVE_AND_LIST_MODULES = """
import json, sys
from fastapi.testclient import TestClient
from sentiment.entrypoints.api import app
with TestClient(app) as client:
    answer = client.post("/predict", json={"text": sys.argv[1]})
    heavy = ("mlflow", "sklearn", "scipy", "pandas", "skops", "sqlalchemy", "pyarrow")
    print(json.dumps({"status": answer.status_code, "body": answer.json(),
                      "heavy": [m for m in heavy if m in sys.modules]}))
"""


def test_a_fresh_api_process_serves_the_champion_without_heavy_libraries(
    trained_store: tuple[Path, TrainModelResult], data_csv: Path, tmp_path: Path
) -> None:
    root, result = trained_store
    text = "A wonderful film, I loved it!"
    env = venv_env(
        {
            "SENTIMENT_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "SENTIMENT_RELOAD_INTERVAL_S": "0",
        }
    )
    completed = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST_MODULES, text],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    assert answer["heavy"] == []
    assert answer["status"] == 200
    assert answer["body"]["model"]["version"] == result.model_version
    expected = mlflow_container(root, data_csv).registry().load(result.model_version)
    (prediction,) = expected.predict([text])
    assert answer["body"]["label"] == prediction.label
    assert answer["body"]["probabilities"] == pytest.approx(
        dict(prediction.probabilities), abs=1e-6
    )


def test_an_empty_store_starts_not_ready_and_serves_the_first_trained_model(
    tmp_path: Path, data_csv: Path
) -> None:
    container = mlflow_container(tmp_path, data_csv)
    with TestClient(create_app(container)) as client:
        assert client.get("/health").status_code == 200
        wait_not_ready_because(client, "no registered version yet")
        assert_error(client.post("/predict", json={"text": "fine"}), 503, "model_not_ready")

        result = train(container)  # the same container, as the CLI would build it

        assert wait_ready(client).status_code == 200
        prediction = client.post("/predict", json={"text": "fine"}).json()
        assert prediction["model"]["version"] == result.model_version


@pytest.fixture
def no_http_retries() -> Iterator[None]:
    saved = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    yield
    if saved is None:
        del os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    else:
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = saved


@pytest.mark.mlflow_server
@pytest.mark.usefixtures("no_http_retries")
def test_an_unreachable_server_starts_not_ready_and_recovers_when_it_comes_up(
    trained_store: tuple[Path, TrainModelResult], data_csv: Path, tmp_path: Path
) -> None:
    root, result = trained_store
    port = free_port()
    container = mlflow_container(
        tmp_path, data_csv, tracking_uri=f"http://127.0.0.1:{port}", load_retry_max_s=1.0
    )
    with TestClient(create_app(container)) as client:
        wait_not_ready_because(client, "unreachable")
        assert_error(client.post("/predict", json={"text": "fine"}), 503, "model_not_ready")

        command = [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri"]
        command += [f"sqlite:///{root / 'mlflow.db'}", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", "1"]
        server_url = f"http://127.0.0.1:{port}"
        log = tmp_path / "server.log"
        with running_server(command, f"{server_url}/health", log, env=venv_env(), timeout_s=180):
            response = wait_ready(client, timeout_s=90)
            assert response.status_code == 200, response.text
            info = client.get("/model").json()
    assert (info["version"], info["alias"]) == (result.model_version, "champion")
    assert info["run_id"] == result.run_id
