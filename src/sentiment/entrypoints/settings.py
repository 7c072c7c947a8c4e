"""One pydantic-settings `Settings` for every entrypoint (environment prefix `SENTIMENT_`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sentiment.adapters.imdb_dataset import IMDB_SHA256, IMDB_SIZE, IMDB_URL

MIN_SECRET_CHARS = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SENTIMENT_",
        extra="ignore",
        frozen=True,
        env_parse_none_str="null",
        hide_input_in_errors=True,  # a refused setting may be a secret: never print its value
    )

    # -- data ---------------------------------------------------------------------------------
    data: str = Field(
        "imdb",
        description="Training data: a CSV path, or `imdb` to download the IMDB train half once "
        "(`imdb-test`: the test half, for the evaluation CLI).",
    )
    eval_data: str | None = Field(
        None,
        description="Separate labelled data to evaluate and gate on instead of a held-out split "
        "(a CSV path, or `imdb-test` for the official IMDB test half); the model then trains on "
        "every row of `data`. Same text and label columns as `data`.",
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
    serving_reader: Literal["lean", "mlflow"] = Field(
        "lean",
        description="How the API reads an MLflow registry: `lean` (sqlite3 or the REST API, "
        "without importing MLflow; `serving.npz` models predict with numpy alone) or `mlflow` "
        "(MLflow's client and the skops model). The CLIs always use MLflow's client.",
    )
    experiment_name: str = Field("sentiment-analysis", description="MLflow experiment.")
    model_name: str = Field("SentimentAnalysisModel", description="Registered model name.")

    # -- training -----------------------------------------------------------------------------
    model_type: str = Field(
        "nblr-lm",
        description="Model type: `nblr-lm` (default: `nblr` stacked with class n-gram language "
        "models, two classes), `nblr` (NB-weighted logistic regression), `nblr-ctx` (`nblr` with "
        "negation marking and sentence scores, two classes) or `tfidf-lr` (baseline).",
    )
    hyperparameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description='Hyperparameters over the model type\'s defaults, as JSON: `{"C": 2}`.',
    )
    test_size: float = Field(
        0.2, gt=0.0, lt=1.0, description="Held-out share for evaluation (without `eval_data`)."
    )
    random_state: int = Field(42, description="Seed of the split and of the model.")

    # -- promotion ----------------------------------------------------------------------------
    promotion_margin: float = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description="A candidate becomes champion only if its macro-F1 is at least the "
        "champion's plus this margin (both scored on the same held-out split).",
    )
    promotion_floor: float = Field(
        0.80,
        ge=0.0,
        le=1.0,
        description="...and at least this macro-F1, champion or not; else it gets @challenger.",
    )

    # -- serving (the API) ----------------------------------------------------------------------
    model_alias: str = Field(
        "champion",
        pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$",
        description="Alias of the version the API serves; when no version carries it, the API "
        "serves the newest version.",
    )
    model_version: str | None = Field(
        None,
        pattern=r"^[1-9][0-9]*$",
        description="Pin the served version (a number); overrides the alias. Empty: follow it.",
    )
    max_batch: int = Field(
        256, ge=1, le=100_000, description="Most texts accepted by one batch request."
    )
    max_text_chars: int = Field(
        50_000, ge=1, description="Longest text accepted, in characters (Unicode code points)."
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Largest request body accepted, in bytes; a larger one gets 413 unread.",
    )
    batch_max_size: int = Field(
        64,
        ge=0,
        le=4096,
        description="Micro-batching: most concurrent /predict requests classified together in "
        "one vectorized call, off the event loop. 0 or 1: no micro-batching (each request alone).",
    )
    batch_max_wait_ms: float = Field(
        2.0,
        ge=0.0,
        le=1000.0,
        description="Micro-batching: under concurrency, how long (ms) a request may wait for "
        "others to join its batch; a lone request never waits. 0: never wait, batch only what "
        "queued while the previous batch ran.",
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=512,
        description="Worker processes of `python -m sentiment.entrypoints.serve`; empty: one per "
        "core.",
    )
    preload: bool = Field(
        True,
        description="`python -m sentiment.entrypoints.serve` with several workers: import the app "
        "and load the model once in the supervisor, then fork the workers from it (fast start, "
        "shared pages). false: spawn fresh workers that each import and load on their own.",
    )
    load_retry_initial_s: float = Field(
        0.5, gt=0.0, description="First wait before retrying a failed model load, in seconds."
    )
    load_retry_max_s: float = Field(
        30.0, gt=0.0, description="Longest wait between model load retries, in seconds."
    )
    load_retry_multiplier: float = Field(
        2.0, ge=1.0, description="Factor by which the wait grows after each failed load."
    )
    startup_wait_s: float = Field(
        15.0,
        ge=0.0,
        description="How long startup waits for the first model load attempt before the server "
        "accepts requests (not ready yet: 503) and keeps loading in the background.",
    )

    # -- live reload (the API) ------------------------------------------------------------------
    reload_interval_s: float = Field(
        30.0,
        ge=0.0,
        description="How often the API asks the registry whether the alias moved (seconds); a new "
        "version is loaded and smoke-tested off the request path, then swapped in. 0: never.",
    )
    admin_token: str | None = Field(
        None,
        min_length=16,
        repr=False,
        description="Bearer token for POST /admin/reload (at least 16 characters; surrounding "
        "whitespace, such as a file's final newline, is ignored); without it the route does not "
        "exist.",
    )

    # -- security (the API) ---------------------------------------------------------------------
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        repr=False,
        description="API keys for the prediction routes and GET /model, comma-separated or a "
        'JSON list (`["k1", "k2"]`), each at least 16 characters (surrounding whitespace '
        "ignored); sent as `X-API-Key: <key>` or `Authorization: Bearer <key>`. Empty "
        "(default): no keys needed; separators alone (`,`) are refused.",
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0.0,
        description="Longest time a client may take to send a request body, in seconds; a slower "
        "one gets 408 and the connection is closed.",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            keys = [key.strip() for key in text.split(",") if key.strip()]
            if text and not keys:  # "," is a mistake (an unfilled template), not "keys off"
                raise ValueError("names no key, only separators; leave it empty for no keys")
            return keys
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_long_enough(cls, value: list[str]) -> list[str]:
        # A presented key is stripped: one configured with surrounding whitespace (a file's final
        # newline) could never match.
        value = [key.strip() for key in value]
        if any(len(key) < MIN_SECRET_CHARS for key in value):
            raise ValueError(f"every API key needs at least {MIN_SECRET_CHARS} characters")
        return value

    @field_validator("admin_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        # Stripped, as a presented token is (a file's final newline would lock the route).
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("model_version", "workers", mode="before")
    @classmethod
    def _empty_version_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _retry_bounds(self) -> Self:
        if self.load_retry_initial_s > self.load_retry_max_s:
            raise ValueError(
                f"load_retry_initial_s ({self.load_retry_initial_s}) exceeds "
                f"load_retry_max_s ({self.load_retry_max_s})"
            )
        return self
