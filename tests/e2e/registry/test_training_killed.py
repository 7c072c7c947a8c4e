"""Training killed with SIGKILL mid-run: no version becomes champion without a finished
evaluation, the champion stays, and the next training works."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.domain.model import ModelVersion
from sentiment.domain.promotion import CHAMPION, alias_history
from tests.e2e.registry.conftest import FAIR, GOOD, Store, make_store

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, csv_files: tuple[Path, Path]) -> Store:
    store = make_store(tmp_path_factory.mktemp("killed-store"), csv_files, "KilledModel")
    first = store.cli("train", "--data", str(store.train_csv), *FAIR, "-q")
    assert first.returncode == 0, first.stderr
    return store


def registry_of(store: Store) -> MlflowModelRegistry:
    return MlflowModelRegistry(
        tracking_uri=store.env["SENTIMENT_TRACKING_URI"],
        model_name=store.env["SENTIMENT_MODEL_NAME"],
        cache_dir=store.root / "downloads",
    )


def kill_at_stage(store: Store, stage: str, timeout_s: float = 240.0) -> str:
    """Start a training of a better model, SIGKILL it as soon as it reports `stage` (started;
    `registered`: the register stage finished, which it reports before its run ends), and
    return what it had written on stderr."""
    finished = rb"\] register .*? s  \S+ version \d+\n"  # MLflow may print lines in between
    wanted = re.compile(finished if stage == "registered" else rb"\] %b " % stage.encode(), re.S)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sentiment.entrypoints.train",
            "--data",
            str(store.train_csv),
            *GOOD,
        ],
        env=store.env,
        cwd=store.work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout_s
    try:
        while not wanted.search(seen):
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([process.stderr], [], [], 1.0)
            if ready:
                chunk = os.read(process.stderr.fileno(), 65536)
                assert chunk, f"training ended before {stage}: {seen.decode(errors='replace')}"
                seen += chunk
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    return seen.decode(errors="replace")


def assert_every_champion_was_evaluated(versions: list[ModelVersion]) -> None:
    for version in versions:
        if CHAMPION in version.aliases:
            assert version.run_finished
            assert "f1_macro" in version.metrics
            assert version.tags["champion.at"]


@pytest.mark.parametrize("stage", ["fit", "register", "registered", "gate"])
def test_a_killed_training_never_makes_a_champion(store: Store, stage: str) -> None:
    registry = registry_of(store)
    before = {v.version for v in registry.list_versions()}
    champion = registry.get_by_alias(CHAMPION).version

    kill_at_stage(store, stage)

    versions = registry.list_versions()
    assert registry.get_by_alias(CHAMPION).version == champion
    assert_every_champion_was_evaluated(versions)
    new = [v for v in versions if v.version not in before]
    if stage == "fit":
        assert new == []
    elif stage == "register":  # killed while registering: before or after the version exists
        assert len(new) <= 1
    else:  # the register stage had finished: the version exists
        assert len(new) == 1
    for version in new:
        assert version.aliases == ()
        if stage == "gate":
            # Killed after its run FINISHED, in the gate: registered, evaluated, not moved.
            assert version.run_finished
        elif version.run_status == "RUNNING":  # SIGKILL left the run as it was
            refused = store.cli("registry", "promote", version.version, "--reason", "try")
            assert refused.returncode == 3
            assert "without a finished evaluation" in refused.stderr
        else:  # "registered": its run ended between the stage's report and the kill
            assert stage == "registered"
            assert version.run_finished
    # Nothing was recorded as moved either.
    assert all(e.version not in {v.version for v in new} for e in alias_history(versions))


def test_the_next_training_works_and_is_gated(store: Store) -> None:
    result = store.cli("train", "--data", str(store.train_csv), *GOOD)
    assert result.returncode == 0, result.stderr
    assert "promoted to @champion" in result.stdout
    registry = registry_of(store)
    champion = registry.get_by_alias(CHAMPION)
    assert champion.version == registry.latest_version().version
    assert champion.tags["champion.previous"] == "1"
    assert_every_champion_was_evaluated(registry.list_versions())
