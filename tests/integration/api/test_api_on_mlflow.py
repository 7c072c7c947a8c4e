"""The API over the real MLflow registry: train into a temporary SQLite store, serve, predict;
start with the store empty or the server away, then become ready by itself."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sentiment.application.train_model import TrainModelCommand, TrainModelResult
from sentiment.entrypoints.api import create_app
from sentiment.entrypoints.container import Container, build_container
from sentiment.entrypoints.settings import Settings
from tests.api_support import FAST_RETRY, SMALL_PARAMS, assert_error, free_port, write_sample_csv
from tests.processes import VENV_BIN, running_server, venv_env


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


def test_serves_the_trained_champion_from_mlflow(
    trained_store: tuple[Path, TrainModelResult], data_csv: Path
) -> None:
    root, result = trained_store
    container = mlflow_container(root, data_csv)
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

    assert single["label"] == expected[0].label
    assert single["probabilities"] == pytest.approx(dict(expected[0].probabilities))
    assert single["model"] == {"name": result.model_name, "version": result.model_version}
    assert [p["label"] for p in batch["predictions"]] == [p.label for p in expected]
    assert invocations == {"predictions": [p.label for p in expected]}


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
