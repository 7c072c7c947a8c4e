"""The API starts without the heavy libraries: importing the app (and building it) in a fresh
interpreter loads neither MLflow, scikit-learn, scipy, pandas nor skops, and the container picks
the registry reader by configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dependency_injector import providers

from sentiment.adapters.mlflow_rest_reader import RestModelReader
from sentiment.adapters.mlflow_sqlite_reader import SqliteModelReader
from sentiment.application.load_model import LoadModelCommand
from sentiment.entrypoints.container import build_container
from sentiment.entrypoints.settings import Settings
from tests.support.api import FixedClassifier, registry_with
from tests.support.processes import venv_env

HEAVY = ("mlflow", "sklearn", "scipy", "pandas", "skops", "sqlalchemy", "pyarrow")

PROBE = """
import json, sys
import sentiment.entrypoints.api as api
imported = [m for m in {heavy!r} if m in sys.modules]
app = api.app
built = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"imported": imported, "built": built, "title": app.title}}))
"""


def run_probe(tmp_path: Path, **settings: str) -> dict[str, object]:
    env = venv_env({f"SENTIMENT_{k.upper()}": v for k, v in settings.items()})
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_importing_and_building_the_app_loads_no_heavy_library(tmp_path: Path) -> None:
    result = run_probe(tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert result == {"imported": [], "built": [], "title": "sentiment"}
    assert not (tmp_path / "mlflow.db").exists()  # building the app created no store


def test_the_mlflow_reader_is_still_a_choice(tmp_path: Path) -> None:
    # The same probe sees MLflow's client when it is asked for: the probe can tell.
    result = run_probe(
        tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", serving_reader="mlflow"
    )
    assert result["imported"] == []
    assert "sklearn" in result["built"]  # type: ignore[operator]


def test_the_container_reads_an_mlflow_registry_with_the_lean_reader(tmp_path: Path) -> None:
    sqlite = build_container(Settings(tracking_uri=f"sqlite:///{tmp_path / 'm.db'}"))
    assert isinstance(sqlite.model_reader(), SqliteModelReader)
    rest = build_container(Settings(tracking_uri="http://127.0.0.1:5000"))
    assert isinstance(rest.model_reader(), RestModelReader)
    assert rest.model_reader() is rest.model_reader()  # one per process


def test_the_memory_registry_and_its_overrides_are_read_directly() -> None:
    container = build_container(Settings(registry="memory"))
    replacement = registry_with(FixedClassifier())
    container.registry.override(providers.Object(replacement))
    assert container.model_reader() is replacement
    loaded = container.load_model().execute(LoadModelCommand())
    assert (loaded.version, loaded.classifier.model_type) == ("1", "fixed")
