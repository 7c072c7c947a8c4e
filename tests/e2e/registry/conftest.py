"""A SQLite MLflow store and small CSV files for the registry CLIs run as subprocesses."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.data import disjoint_samples, write_csv
from tests.support.processes import clean_env, run_cli

GOOD = ["--model-type", "tfidf-lr", "-p", "n_features_log2=16"]
FAIR = ["--model-type", "tfidf-lr", "-p", "n_features_log2=8"]
WEAK = ["--model-type", "tfidf-lr", "-p", "n_features_log2=3"]


@dataclass(frozen=True)
class Store:
    """A SQLite store in `root`; the CLIs run in `root/work`, so that nothing can find the
    store by looking in the working directory (MLflow's default is `./mlflow.db`)."""

    root: Path
    env: dict[str, str]
    train_csv: Path
    eval_csv: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    def cli(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        self.work.mkdir(exist_ok=True)
        return run_cli(module, args, env=self.env, cwd=self.work)


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli-data")
    train_rows, eval_rows = disjoint_samples([600, 200], seed=31)
    return write_csv(folder / "train.csv", train_rows), write_csv(folder / "eval.csv", eval_rows)


def make_store(root: Path, csv_files: tuple[Path, Path], model: str) -> Store:
    env = clean_env(
        {
            "SENTIMENT_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "SENTIMENT_ARTIFACT_ROOT": str(root / "artifacts"),
            "SENTIMENT_MODEL_NAME": model,
            "SENTIMENT_PROMOTION_FLOOR": "0.6",
        }
    )
    return Store(root, env, *csv_files)
