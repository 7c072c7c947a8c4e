"""Remote MLflow for real: `mlflow server` on PostgreSQL with proxied artifacts; the whole
lifecycle through the CLIs (train, register, gate, promote, rollback, evaluate, load, predict),
and a PostgreSQL restart under the running server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from mlflow import MlflowClient

from sentiment.application.predict import Predict, PredictCommand
from sentiment.entrypoints import evaluate, registry, train
from sentiment.entrypoints.container import build_container
from sentiment.entrypoints.settings import Settings
from tests.support.data import disjoint_samples, write_csv
from tests.support.mlflow_servers import (
    POSTGRES,
    MlflowServer,
    database_exists,
    postgres_mlflow_server,
    restart_postgres,
)
from tests.support.processes import clean_env, run_cli

pytestmark = pytest.mark.mlflow_server

GOOD = ["--model-type", "tfidf-lr", "-p", "n_features_log2=16"]
WEAK = ["--model-type", "tfidf-lr", "-p", "n_features_log2=3"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    root = tmp_path_factory.mktemp("pg-mlflow")
    with postgres_mlflow_server(root) as running:
        yield running
    assert not database_exists(running.database)  # dropped with the server


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pg-data")
    train_rows, eval_rows = disjoint_samples([600, 300], seed=21)
    return write_csv(folder / "train.csv", train_rows), write_csv(folder / "eval.csv", eval_rows)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory and no SENTIMENT_* settings from the caller's environment."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("SENTIMENT_")]:
        if key != "SENTIMENT_TEST_DATA":
            monkeypatch.delenv(key)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], main: object, args: list[str], expect: int = 0) -> str:
    assert callable(main)
    code = main(args)
    captured = capsys.readouterr()
    assert code == expect, captured.err
    return str(captured.out)


def rows_in_postgres(database: str, query: str) -> list[tuple[object, ...]]:
    user, _, address = POSTGRES.partition("@")
    host, _, port = address.partition(":")
    connection = psycopg2.connect(host=host, port=int(port), user=user, dbname=database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return list(cursor.fetchall())
    finally:
        connection.close()


def test_the_whole_lifecycle_through_the_server(
    server: MlflowServer,
    data: tuple[Path, Path],
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SENTIMENT_MODEL_NAME", "Lifecycle")
    uri = ["--tracking-uri", server.uri]
    train_csv, eval_csv = data
    gate = ["--promotion-floor", "0.6"]

    args = ["--data", str(train_csv), *GOOD, *uri, *gate, "--output-json", "first.json"]
    # --quiet prints nothing, not even MLflow's "View run" links that a server's runs get.
    assert run(capsys, train.main, [*args, "--quiet"]) == ""
    first = json.loads((isolated / "first.json").read_text())
    assert (first["model_version"], first["aliases"]) == ("1", ["champion"])
    assert first["promotion"]["champion_version"] is None

    out = run(capsys, train.main, ["--data", str(train_csv), *WEAK, *uri, *gate])
    assert "kept as @challenger: macro-F1" in out
    assert "below champion v1's" in out

    out = run(capsys, registry.main, ["promote", "2", "--reason", "canary", *uri])
    assert "@champion: version 1 -> version 2" in out
    out = run(capsys, registry.main, ["rollback", "--reason", "canary failed", *uri])
    assert "@champion: version 2 -> version 1" in out
    out = run(capsys, registry.main, ["history", "--alias", "champion", *uri])
    assert [line.split()[4] for line in out.splitlines()[2:]] == [
        "gate",
        "promote",
        "rollback",
    ]

    out = run(
        capsys,
        evaluate.main,
        ["--data", str(eval_csv), "--log", *uri, "--output-json", "eval.json", "--quiet"],
    )
    assert out == ""
    report = json.loads((isolated / "eval.json").read_text())
    assert report["model_version"] == "1"
    assert report["dataset"]["rows"] == 300
    assert 0.6 < report["metrics"]["f1_macro"] <= 1.0

    # A fresh process (which never set MLflow's global URI) loads and scores the challenger.
    fresh = run_cli(
        "evaluate",
        ["--data", str(eval_csv), "--model", "models:/Lifecycle/2", "--tracking-uri", server.uri],
        env=clean_env(),
        cwd=isolated,
    )
    assert fresh.returncode == 0, fresh.stderr
    assert "Lifecycle version 2" in fresh.stdout

    # Load the champion back through a container, as the API would, and predict.
    settings = Settings(tracking_uri=server.uri, model_name="Lifecycle")
    models = build_container(settings).registry()
    champion = models.get_by_alias("champion")
    predictions = (
        Predict(models.load(champion.version))
        .execute(
            PredictCommand(("A wonderful, moving film. I loved it!", "Awful. Boring and stupid."))
        )
        .predictions
    )
    assert [p.label for p in predictions] == ["positive", "negative"]

    # It all went through the server: runs and registry rows in PostgreSQL, artifacts proxied
    # into --artifacts-destination, nothing in the client's working directory.
    client = MlflowClient(server.uri)
    training_run = client.get_run(first["run_id"])
    assert training_run.info.artifact_uri.startswith("mlflow-artifacts:")
    evaluation_run = client.get_run(report["evaluation_run_id"])
    assert evaluation_run.data.tags["sentiment.model_version"] == "1"
    assert list(server.artifacts.rglob("model.skops"))
    assert not (isolated / "mlruns").exists()
    assert not (isolated / "mlflow.db").exists()
    # Promoting the challenger by hand took @challenger off it.
    aliases = rows_in_postgres(
        server.database,
        "SELECT alias, version FROM registered_model_aliases WHERE name = 'Lifecycle'",
    )
    assert aliases == [("champion", 1)]
    versions = rows_in_postgres(
        server.database,
        "SELECT version, status FROM model_versions WHERE name = 'Lifecycle' ORDER BY version",
    )
    assert versions == [(1, "READY"), (2, "READY")]


def test_a_postgres_restart_under_the_server(
    server: MlflowServer,
    data: tuple[Path, Path],
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SENTIMENT_MODEL_NAME", "Restarted")
    uri = ["--tracking-uri", server.uri]
    train_csv, eval_csv = data
    run(capsys, train.main, ["--data", str(train_csv), *GOOD, *uri, "--promotion-floor", "0.6"])

    assert restart_postgres() < 60

    # The server's pooled connections died with PostgreSQL; the next calls still work.
    out = run(capsys, evaluate.main, ["--data", str(eval_csv), "--log", *uri])
    assert "Restarted version 1 (@champion)" in out
    out = run(
        capsys,
        train.main,
        ["--data", str(train_csv), *GOOD, *uri, "--promotion-floor", "0.6", "--random-state", "7"],
    )
    assert "Restarted version 2" in out
    out = run(capsys, registry.main, ["list", *uri])
    assert out.splitlines()[0] == "Restarted: 2 versions"
