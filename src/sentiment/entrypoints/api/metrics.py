"""Prometheus metrics of one app: HTTP traffic, predictions, micro-batching and model loads.

Each app owns its `CollectorRegistry`, so several apps (tests) never collide. With several worker
processes every worker reports its own figures.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from sentiment.application.load_model import LoadedModel
from sentiment.domain.model import Prediction

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
CONFIDENCE_BUCKETS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class ApiMetrics:
    """The metrics the API exposes at /metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "sentiment_http_requests",
            "HTTP requests answered, by route, method and status code (499: the client went "
            "away before any answer).",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "sentiment_http_request_duration_seconds",
            "Time from request to the end of the response, by route, method and status code.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "sentiment_predictions",
            "Texts classified, by predicted label and model version.",
            ["label", "model_version"],
            registry=r,
        )
        self.confidence = Histogram(
            "sentiment_prediction_confidence",
            "Probability of the predicted label, by model version.",
            ["model_version"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.texts_per_request = Histogram(
            "sentiment_texts_per_request",
            "Texts per prediction request, by route.",
            ["route"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.microbatch_size = Histogram(
            "sentiment_microbatch_size",
            "Texts per model call of the /predict micro-batcher (_count: calls, _sum: texts). "
            "Not counted when micro-batching is off.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.microbatch_wait = Histogram(
            "sentiment_microbatch_wait_seconds",
            "How long the oldest text of each micro-batch waited in the queue before its model "
            "call began (lingering for the batch to fill, or behind the batch before it).",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.model_loads = Counter(
            "sentiment_model_loads",
            "Model load attempts, by outcome (success or failure).",
            ["outcome"],
            registry=r,
        )
        self.model_load_failures = Counter(
            "sentiment_model_load_failures",
            "Failed model loads, by error type.",
            ["error"],
            registry=r,
        )
        self.model_load_seconds = Histogram(
            "sentiment_model_load_duration_seconds",
            "Time to load and smoke-test a model version.",
            buckets=LOAD_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "sentiment_model_info",
            "The model being served (value 1), by name, version and resolution.",
            ["name", "version", "alias", "resolved_by"],
            registry=r,
        )
        self.model_ready = Gauge(
            "sentiment_model_ready", "1 when a model is loaded and served, else 0.", registry=r
        )
        self.model_loaded_at = Gauge(
            "sentiment_model_loaded_timestamp_seconds",
            "When the served model was loaded (Unix time).",
            registry=r,
        )
        self.reload_checks = Counter(
            "sentiment_model_reload_checks",
            "Checks of the registry for a new version to serve, by outcome: unchanged, swapped, "
            "load_failed (the old model kept serving), skipped, unreachable (check failed).",
            ["outcome"],
            registry=r,
        )
        self.reload_last_check = Gauge(
            "sentiment_model_reload_last_check_timestamp_seconds",
            "When the registry was last checked for a new version (Unix time).",
            registry=r,
        )
        for outcome in ("success", "failure"):
            self.model_loads.labels(outcome)
        self.model_ready.set(0)

    # -- the hot path ---------------------------------------------------------------------------

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        code = str(status)
        self.requests.labels(route, method, code).inc()
        self.latency.labels(route, method, code).observe(seconds)

    def observe_predictions(
        self, route: str, version: str, predictions: Sequence[Prediction]
    ) -> None:
        self.texts_per_request.labels(route).observe(len(predictions))
        confidence = self.confidence.labels(version)
        if len(predictions) == 1:
            p = predictions[0]
            self.predictions.labels(p.label, version).inc()
            confidence.observe(p.confidence)
            return
        for label, count in Tally(p.label for p in predictions).items():
            self.predictions.labels(label, version).inc(count)
        for p in predictions:
            confidence.observe(p.confidence)

    def observe_microbatch(self, size: int, waited_s: float) -> None:
        self.microbatch_size.observe(size)
        self.microbatch_wait.observe(waited_s)

    # -- model lifecycle ------------------------------------------------------------------------

    def model_loaded(self, model: LoadedModel) -> None:
        self.model_loads.labels("success").inc()
        self.model_load_seconds.observe(model.load_seconds)
        self.model_info.clear()
        self.model_info.labels(model.name, model.version, model.alias or "", model.resolved_by).set(
            1
        )
        self.model_ready.set(1)
        self.model_loaded_at.set(model.loaded_at)

    def model_load_failed(self, error_type: str) -> None:
        self.model_loads.labels("failure").inc()
        self.model_load_failures.labels(error_type).inc()

    def reload_checked(self, outcome: str, at: float) -> None:
        self.reload_checks.labels(outcome).inc()
        self.reload_last_check.set(at)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
