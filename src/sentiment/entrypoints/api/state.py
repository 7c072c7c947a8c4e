"""What the routes of one app share: the served model, its metrics, limits and the loader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sentiment.application.batching import MicroBatcher
from sentiment.application.load_model import LoadedModel
from sentiment.application.serving import ServedModel
from sentiment.domain.model import Prediction
from sentiment.entrypoints.api.loader import BackgroundLoader
from sentiment.entrypoints.api.metrics import ApiMetrics
from sentiment.entrypoints.api.reloader import ModelWatcher
from sentiment.entrypoints.api.validation import Limits


@dataclass(frozen=True, slots=True)
class ApiState:
    served: ServedModel
    metrics: ApiMetrics
    limits: Limits
    loader: BackgroundLoader
    text_column: str = "text"
    watcher: ModelWatcher | None = None
    # Groups concurrent single predictions (None: micro-batching is off).
    batcher: MicroBatcher[LoadedModel, str, Prediction] | None = None


def model_ref(model: LoadedModel) -> dict[str, Any]:
    return {"name": model.name, "version": model.version}


def iso_time(seconds: float) -> str:
    """Unix time as ISO 8601 in UTC with milliseconds: `2026-11-27T05:09:26.123Z`."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
