"""One pydantic-settings `Settings` for every entrypoint (environment prefix `SENTIMENT_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentiment.adapters.imdb_dataset import IMDB_SHA256, IMDB_SIZE, IMDB_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SENTIMENT_", extra="ignore", frozen=True, env_parse_none_str="null"
    )

    # -- data ---------------------------------------------------------------------------------
    data: str = Field(
        "imdb",
        description="Training data: a CSV path, or `imdb` to download the IMDB train half once.",
    )
    text_column: str = Field("text", description="CSV column holding the text.")
    label_column: str = Field("label", description="CSV column holding the label.")
    cache_dir: Path = Field(
        Path("~/.cache/sentiment").expanduser(), description="Where downloads are cached."
    )
    imdb_url: str = Field(
        IMDB_URL, description="Address of the IMDB archive (`aclImdb_v1.tar.gz`)."
    )
    imdb_sha256: str = Field(
        IMDB_SHA256,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Expected SHA-256 of the IMDB archive (change it only with `imdb_url`).",
    )
    imdb_size: int | None = Field(
        IMDB_SIZE, gt=0, description="Expected size in bytes of the IMDB archive; null: unchecked."
    )

    # -- registry -----------------------------------------------------------------------------
    registry: Literal["mlflow", "memory"] = Field(
        "mlflow", description="Model registry adapter: `mlflow` or `memory` (tests, demos)."
    )
    tracking_uri: str = Field(
        "sqlite:///mlruns/mlflow.db",
        description="MLflow tracking and registry URI (a remote server: `http://host:5000`).",
    )
    artifact_root: str = Field(
        "mlruns/artifacts", description="Artifact folder for a local (SQLite) MLflow store."
    )
    experiment_name: str = Field("sentiment-analysis", description="MLflow experiment.")
    model_name: str = Field("SentimentAnalysisModel", description="Registered model name.")

    # -- training -----------------------------------------------------------------------------
    model_type: str = Field("nblr", description="Model type: `nblr` (default) or `tfidf-lr`.")
    hyperparameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description='Hyperparameters over the model type\'s defaults, as JSON: `{"C": 2}`.',
    )
    test_size: float = Field(0.2, gt=0.0, lt=1.0, description="Held-out share for evaluation.")
    random_state: int = Field(42, description="Seed of the split and of the model.")
