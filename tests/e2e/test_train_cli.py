"""The training CLI as a subprocess on 2,000 sampled reviews; then `mlflow models serve`."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sentiment.adapters.hyperparameters import DEFAULT_MODEL_TYPE
from tests.conftest import sample_frame
from tests.support.local_http import free_port
from tests.support.processes import VENV_BIN, running_server, venv_env

pytestmark = pytest.mark.e2e

POSITIVE = "An absolute masterpiece: brilliant acting, a wonderful story. I loved every minute!"
NEGATIVE = "The worst film I have ever seen. Boring, stupid and a total waste of time."


def cli_env() -> dict[str, str]:
    """This environment without SENTIMENT_* or MLFLOW_* settings, so the CLI's defaults apply."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SENTIMENT_", "MLFLOW_"))
    }


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentiment.entrypoints.train", *args],
        cwd=cwd,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def count_rows(db: Path, table: str) -> int:
    """Rows of an MLflow store table, read with sqlite3 (0 when there is no store at all)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        exists = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?", (table,)
        ).fetchone()[0]
        if not exists:
            return 0
        count: int = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return count


@dataclass
class Trained:
    cwd: Path
    process: subprocess.CompletedProcess[str]
    result: dict[str, Any]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_frame: pd.DataFrame) -> Trained:
    """One CLI run on 2,000 reviews sampled from the shared data, in a fresh working folder."""
    cwd = tmp_path_factory.mktemp("e2e-train")
    sample_frame(shared_frame, 2000, seed=3).to_csv(cwd / "reviews.csv", index=False)
    process = run_cli(
        [
            "--data",
            "reviews.csv",
            "-p",
            "n_features_log2=18",
            "--run-name",
            "e2e",
            "--output-json",
            "out/result.json",
        ],
        cwd,
    )
    assert process.returncode == 0, process.stderr
    return Trained(cwd, process, json.loads((cwd / "out" / "result.json").read_text()))


def test_it_exits_0_and_reports_every_stage(trained: Trained) -> None:
    stderr = trained.process.stderr
    stages = ["load", "split", "fit", "evaluate", "log", "register", "gate"]
    for number, stage in enumerate(stages, 1):
        # Each stage on a line of its own: nothing (MLflow's own lines) printed in between.
        line = rf"^\[{number}/7\] {stage} +\.\.\. +\d+\.\d s  .*$"
        assert re.search(line, stderr, re.MULTILINE), stderr
    assert re.search(r"^\[6/7\] register .* s  SentimentAnalysisModel version 1$", stderr, re.M)
    assert "2000 rows, 0 dropped" in stderr
    assert "1600 train / 400 test" in stderr


def test_quiet_prints_nothing_for_a_new_store_nor_for_a_new_version(
    tmp_path: Path, shared_frame: pd.DataFrame
) -> None:
    sample_frame(shared_frame, 300, seed=5).to_csv(tmp_path / "reviews.csv", index=False)
    args = ["--data", "reviews.csv", "--model-type", "tfidf-lr", "--promotion-floor", "0", "-q"]
    for _ in range(2):  # a new store and registered model, then a second version of it
        process = run_cli(args, tmp_path)
        assert process.returncode == 0, process.stderr
        assert (process.stdout, process.stderr) == ("", "")


def test_it_ends_with_a_summary_table(trained: Trained) -> None:
    table = {
        line.strip().split("  ", 1)[0]: line.strip().split("  ", 1)[1].strip()
        for line in trained.process.stdout.splitlines()
        if "  " in line.strip()
    }
    result = trained.result
    assert table["model"] == "SentimentAnalysisModel version 1 (@champion)"
    assert table["run id"] == result["run_id"]
    assert table["accuracy"] == f"{result['metrics']['accuracy']:.4f}"
    assert table["macro-F1"] == f"{result['metrics']['f1_macro']:.4f}"
    assert table["rows"] == "2000 (0 dropped), 1600 train / 400 test"
    assert table["MLflow UI"].startswith("mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db")
    assert table["negative"].startswith("precision ")
    assert table["positive"].endswith("support 200")


def test_output_json_holds_the_run(trained: Trained) -> None:
    result = trained.result
    assert {"run_id", "model_name", "model_version", "metrics", "params", "duration_s"} <= set(
        result
    )
    assert len(result["run_id"]) == 32
    assert (result["model_name"], result["model_version"]) == ("SentimentAnalysisModel", "1")
    assert result["params"]["dataset_size"] == 2000
    assert result["params"]["train_size"] == 1600
    assert result["params"]["test_size"] == 0.2
    assert result["params"]["random_state"] == 42
    assert result["params"]["model_type"] == DEFAULT_MODEL_TYPE == "nblr-lm"
    assert result["params"]["hp_lm_order"] == 3
    assert result["params"]["hp_n_features_log2"] == 18
    assert set(result["metrics"]) >= {"accuracy", "f1_macro", "f1_negative", "f1_positive"}
    # 1,600 training reviews are enough for a clearly useful model.
    assert result["metrics"]["accuracy"] > 0.75
    assert 0 < result["duration_s"] < 600


def test_the_store_is_in_the_working_directory(trained: Trained) -> None:
    mlruns = trained.cwd / "mlruns"
    assert (mlruns / "mlflow.db").is_file()
    assert list((mlruns / "artifacts").rglob("model.skops"))
    assert list((mlruns / "artifacts").rglob("confusion_matrix.png"))
    assert count_rows(mlruns / "mlflow.db", "model_versions") == 1


def test_mlflow_models_serve_answers_with_the_registered_version(trained: Trained) -> None:
    port = free_port()
    command = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        "models:/SentimentAnalysisModel/1",
        "--env-manager",
        "local",
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
    ]
    env = venv_env({"MLFLOW_TRACKING_URI": "sqlite:///mlruns/mlflow.db"})
    base = f"http://127.0.0.1:{port}"
    log = trained.cwd / "serve.log"
    with running_server(command, f"{base}/ping", log, env=env, cwd=trained.cwd, timeout_s=180):
        request = urllib.request.Request(
            f"{base}/invocations",
            data=json.dumps({"inputs": [POSITIVE, NEGATIVE]}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            body = json.loads(response.read())
    assert body == {"predictions": ["positive", "negative"]}


# -- bad input: exit 2, one `error:` line, nothing registered -----------------------------------


def write_bytes(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(data)

    return write


def write_rows(rows: list[tuple[str, str]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)

    return write


BAD_INPUTS: dict[str, tuple[Callable[[Path], None] | None, str]] = {
    "missing-file": (None, "data file not found"),
    "not-csv": (write_bytes(bytes(range(256)) * 8), "not a UTF-8 CSV file"),
    "missing-columns": (
        write_bytes(b"review,sentiment\ngood,pos\n"),
        "missing column(s) 'text', 'label'; columns found: 'review', 'sentiment'",
    ),
    "one-class": (
        write_rows([(f"review {i}", "positive") for i in range(20)]),
        "need at least two classes to train, found 1: positive",
    ),
    "class-too-small": (
        write_rows([(f"review {i}", "positive") for i in range(20)] + [("bad", "negative")]),
        "class 'negative' has 1 example(s): too few for a test size of 0.2",
    ),
    "all-texts-empty": (
        write_rows([("", "positive"), ("  ", "negative")] * 10),
        "all 20 rows have an empty text or label",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_error_line_and_registers_nothing(
    case: str, tmp_path: Path
) -> None:
    write, message = BAD_INPUTS[case]
    if write is not None:
        write(tmp_path / "data.csv")
    process = run_cli(["--data", "data.csv"], tmp_path)

    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, process.stderr
    assert message in errors[0]
    assert process.stdout == ""
    db = tmp_path / "mlruns" / "mlflow.db"
    assert count_rows(db, "runs") == 0
    assert count_rows(db, "model_versions") == 0
