"""A model trained by the real CLI into a temporary MLflow store, served by real uvicorn."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.api_support import ServerProcess, free_port, subprocess_env, write_sample_csv


@dataclass(frozen=True)
class Store:
    root: Path
    tracking_uri: str
    artifact_root: Path
    trained: dict[str, Any]  # the training CLI's --output-json

    def env(self, **extra: str) -> dict[str, str]:
        return subprocess_env(
            SENTIMENT_TRACKING_URI=self.tracking_uri,
            SENTIMENT_ARTIFACT_ROOT=str(self.artifact_root),
            MLFLOW_TRACKING_URI=self.tracking_uri,
            **extra,
        )


@dataclass(frozen=True)
class Api:
    url: str
    server: ServerProcess
    store: Store


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("e2e-store")
    data = write_sample_csv(root / "sample.csv")
    store = Store(root, f"sqlite:///{root / 'mlflow.db'}", root / "artifacts", {})
    output = root / "trained.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentiment.entrypoints.train",
            "--data",
            str(data),
            "-p",
            "n_features_log2=18",
            "-p",
            "ngram_max=2",
            "--tracking-uri",
            store.tracking_uri,
            "--output-json",
            str(output),
            "--quiet",
        ],
        env=store.env(),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return Store(
        store.root, store.tracking_uri, store.artifact_root, json.loads(output.read_text())
    )


def start_api(store: Store, log_name: str, **settings: str) -> Api:
    port = free_port()
    server = ServerProcess(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "sentiment.entrypoints.api:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=store.env(**{f"SENTIMENT_{k.upper()}": v for k, v in settings.items()}),
        log=store.root / log_name,
        cwd=store.root,
    )
    return Api(f"http://127.0.0.1:{port}", server, store)


@pytest.fixture(scope="session")
def api(trained_store: Store) -> Iterator[Api]:
    """The API under uvicorn on a free loopback port, ready (model loaded)."""
    running = start_api(trained_store, "uvicorn.log")
    try:
        running.server.wait_for(f"{running.url}/ready", timeout_s=120)
        yield running
    finally:
        running.server.stop()
