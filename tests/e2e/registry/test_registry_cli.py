"""The train, registry and evaluate CLIs, run as a person would, on one SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.registry.conftest import GOOD, WEAK, Store, make_store
from tests.support.processes import run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, csv_files: tuple[Path, Path]) -> Store:
    return make_store(tmp_path_factory.mktemp("cli-store"), csv_files, "CliModel")


def test_train_gate_promote_rollback_and_evaluate(store: Store) -> None:
    first = store.cli("train", "--data", str(store.train_csv), *GOOD)
    assert first.returncode == 0, first.stderr
    assert "CliModel version 1 (@champion)" in first.stdout, first.stdout + first.stderr
    assert "promoted to @champion: no champion to beat" in first.stdout, first.stdout
    assert "[7/7] gate" in first.stderr, first.stderr

    second = store.cli(
        "train", "--data", str(store.train_csv), *WEAK, "-q", "--output-json", "2.json"
    )
    assert second.returncode == 0, second.stderr
    gate = json.loads((store.work / "2.json").read_text())["promotion"]
    assert gate["alias"] == "challenger", gate
    assert gate["champion_version"] == "1"
    assert gate["candidate_f1_macro"] < gate["champion_f1_macro"]

    listing = store.cli("registry", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == 4, listing.stdout
    assert lines[0] == "CliModel: 2 versions"
    assert lines[2].split()[:2] == ["2", "@challenger"]
    assert lines[3].split()[:2] == ["1", "@champion"]

    # A models:/Name... reference picks the registered model, whatever SENTIMENT_MODEL_NAME says.
    promoted = run_cli(
        "registry",
        ["promote", "models:/CliModel@challenger", "--reason", "canary looked fine"],
        env={**store.env, "SENTIMENT_MODEL_NAME": "SomeOtherModel"},
        cwd=store.work,
    )
    assert promoted.returncode == 0, promoted.stderr
    assert "@champion: version 1 -> version 2" in promoted.stdout, promoted.stdout
    assert "warning: its macro-F1" in promoted.stdout, promoted.stdout

    back = store.cli("registry", "rollback")
    assert back.returncode == 0, back.stderr
    assert "@champion: version 2 -> version 1" in back.stdout, back.stdout
    history = store.cli("registry", "history", "--json")
    assert history.returncode == 0, history.stderr
    events = json.loads(history.stdout)["history"]
    assert [(e["alias"], e["version"], e["action"]) for e in events] == [
        ("champion", "1", "gate"),
        ("challenger", "2", "gate"),
        ("champion", "2", "promote"),
        ("champion", "1", "rollback"),
    ]
    assert events[2]["reason"] == "canary looked fine"
    assert events[3]["previous"] == "2"

    scored = store.cli(
        "evaluate", "--data", str(store.eval_csv), "--log", "--output-json", "eval.json"
    )
    assert scored.returncode == 0, scored.stderr
    assert "CliModel version 1 (@champion)" in scored.stdout, scored.stdout
    report = json.loads((store.work / "eval.json").read_text())
    assert report["model_version"] == "1"
    assert report["dataset"]["rows"] == 200
    assert report["evaluation_run_id"]
    assert report["confusion_matrix"]["labels"] == ["negative", "positive"]
    assert sum(map(sum, report["confusion_matrix"]["matrix"])) == 200
    # Nothing but the JSON files landed in the working directory (no stray mlflow.db, mlruns).
    assert sorted(p.name for p in store.work.iterdir()) == ["2.json", "eval.json"]


def test_a_refusal_is_one_line_and_an_exit_code(store: Store) -> None:
    # Every refusal is covered in process (test_cli_in_process); here, the real process.
    result = store.cli("evaluate", "--data", str(store.eval_csv), "--model", "champion")
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid model reference 'champion'")
    assert "did you mean @champion" in result.stderr
    assert "Traceback" not in result.stderr
