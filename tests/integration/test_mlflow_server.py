"""Once against a real `mlflow server` process: train through the CLI, register, load back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from sentiment.adapters.csv_dataset import CsvDatasetSource
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.application.train_model import CHAMPION
from sentiment.domain.model import LabelledDataset
from sentiment.entrypoints.train import main
from tests.support.local_http import free_port
from tests.support.processes import mlflow_server_command, running_server, venv_env

pytestmark = pytest.mark.mlflow_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on a free loopback port: SQLite backend, proxied artifacts in a folder."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = mlflow_server_command(
        f"sqlite:///{root / 'server.db'}", root / "served-artifacts", port
    )
    uri = f"http://127.0.0.1:{port}"
    with running_server(command, f"{uri}/health", root / "server.log", env=venv_env(), cwd=root):
        yield uri, root


def test_train_register_and_load_back_through_the_server(
    server: tuple[str, Path],
    small_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    holdout_dataset: LabelledDataset,
) -> None:
    uri, root = server
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    out = tmp_path / "result.json"
    args = ["--data", str(small_csv), "--tracking-uri", uri, "--model-type", "tfidf-lr"]
    args += ["-p", "n_features_log2=16", "--output-json", str(out), "--quiet"]
    args += ["--promotion-floor", "0.5"]  # a 300-row model may score under the 0.80 default
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["model_version"] == "1"
    assert result["aliases"] == [CHAMPION]

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert run.data.params["dataset_size"] == "300"
    assert run.data.metrics["accuracy"] == pytest.approx(result["metrics"]["accuracy"])
    assert run.inputs is not None
    assert run.inputs.dataset_inputs[0].dataset.digest == CsvDatasetSource(small_csv).load().digest

    # The artifacts went through the server into its own folder, not into the client's.
    served = root / "served-artifacts"
    assert list(served.rglob("model.skops"))
    assert list(served.rglob("confusion_matrix.png"))
    assert not (tmp_path / "mlruns").exists()

    registry = MlflowModelRegistry(tracking_uri=uri, cache_dir=tmp_path / "downloads")
    assert [v.version for v in registry.list_versions()] == ["1"]
    assert registry.get_by_alias(CHAMPION).run_id == result["run_id"]
    loaded = registry.load("1")
    predictions = loaded.predict(holdout_dataset.texts)
    accuracy = sum(
        p.label == label for p, label in zip(predictions, holdout_dataset.labels, strict=True)
    ) / len(holdout_dataset)
    assert accuracy > 0.65
    assert loaded.predict(["A wonderful film, I loved it!"])[0].label == "positive"
