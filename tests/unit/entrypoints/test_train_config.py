"""config/train.env, the settings the `train` workflow trains with: every line is a setting that
exists and validates, and the model type is the project's default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sentiment.adapters.hyperparameters import DEFAULT_MODEL_TYPE
from sentiment.adapters.sklearn_classifier import SklearnClassifierFactory
from sentiment.entrypoints.settings import Settings

TRAIN_ENV = Path(__file__).resolve().parents[3] / "config" / "train.env"
# What .github/workflows/train.yml copies into the job's environment: `grep -E` of this pattern.
WORKFLOW_LINE = re.compile(r"^SENTIMENT_[A-Z_]+=")


def entries() -> dict[str, str]:
    lines = [line for line in TRAIN_ENV.read_text().splitlines() if line.strip()]
    settings = [line for line in lines if not line.startswith("#")]
    # A line the workflow's grep skips would be dropped without a word.
    assert all(WORKFLOW_LINE.match(line) for line in settings), settings
    return dict(line.split("=", 1) for line in settings)


def test_every_line_is_a_setting_that_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    found = entries()
    assert found
    for key, value in found.items():
        # Settings ignores unknown SENTIMENT_ variables: a misspelt one would change nothing.
        assert key.removeprefix("SENTIMENT_").lower() in Settings.model_fields, key
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.model_type in SklearnClassifierFactory().model_types


def test_the_workflow_trains_the_default_model_type() -> None:
    assert entries()["SENTIMENT_MODEL_TYPE"] == DEFAULT_MODEL_TYPE
    assert Settings.model_fields["model_type"].default == DEFAULT_MODEL_TYPE
