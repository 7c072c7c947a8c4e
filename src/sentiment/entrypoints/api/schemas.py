"""Request and response models of the API, with the examples shown in the OpenAPI spec.

Requests to /predict and /predict/batch are parsed with these models (an unknown field, a missing
one, a body of the wrong shape); their texts are judged by `validation.py`'s rules whatever else is
wrong with the body, so a text's 422 reads the same on every route. Responses are built as
plain dicts on the hot path; the response models document them (and the unit tests check that
every response conforms). Length and count limits come from the settings and are written into
the OpenAPI spec when the app is built (see `openapi.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REVIEW_POSITIVE = "A wonderful film with a clever script; I loved every minute of it!"
REVIEW_NEGATIVE = "Dull, predictable and far too long. I want my two hours back."


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# -- requests ------------------------------------------------------------------------------------


class PredictRequest(_Request):
    """One text to classify."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"text": REVIEW_POSITIVE}]})

    text: str = Field(
        min_length=1,
        description="The text to classify: any Unicode, at least one non-whitespace character.",
    )


class BatchPredictRequest(_Request):
    """Texts to classify together; the predictions come back in the same order."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"texts": [REVIEW_POSITIVE, REVIEW_NEGATIVE]}]}
    )

    texts: list[str] = Field(
        min_length=1,
        description="The texts to classify, each with at least one non-whitespace character.",
    )


class DataframeSplit(BaseModel):
    """A pandas DataFrame in `split` orientation (`DataFrame.to_dict(orient="split")`)."""

    columns: list[str] = Field(description="Column names; one of them holds the text.")
    data: list[list[Any]] = Field(description="Rows, each with one value per column.")
    index: list[Any] | None = Field(None, description="Row labels (ignored).")


class InvocationsRequest(BaseModel):
    """The MLflow scoring protocol: exactly one of `inputs`, `instances`, `dataframe_split`,
    `dataframe_records`. The text column of a DataFrame is its only column, or the one named
    `text` (the configured text column)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"inputs": [REVIEW_POSITIVE, REVIEW_NEGATIVE]}]}
    )

    inputs: list[str] | None = Field(None, description="The texts, as a list of strings.")
    instances: list[str | dict[str, Any]] | None = Field(
        None, description="The texts, as strings or as objects with a text field."
    )
    dataframe_split: DataframeSplit | None = Field(None, description="A split DataFrame.")
    dataframe_records: list[dict[str, Any]] | None = Field(
        None, description="A DataFrame as records: one object per row."
    )
    params: dict[str, Any] | None = Field(
        None, description="Inference parameters (accepted for compatibility; none are used)."
    )


INVOCATIONS_EXAMPLES: dict[str, dict[str, Any]] = {
    "inputs": {
        "summary": "inputs: a list of texts",
        "value": {"inputs": [REVIEW_POSITIVE, REVIEW_NEGATIVE]},
    },
    "instances": {
        "summary": "instances: a list of texts",
        "value": {"instances": [REVIEW_POSITIVE, REVIEW_NEGATIVE]},
    },
    "dataframe_split": {
        "summary": "dataframe_split: a DataFrame with a text column",
        "value": {
            "dataframe_split": {
                "columns": ["text"],
                "data": [[REVIEW_POSITIVE], [REVIEW_NEGATIVE]],
            }
        },
    },
    "dataframe_records": {
        "summary": "dataframe_records: one object per row",
        "value": {"dataframe_records": [{"text": REVIEW_POSITIVE}, {"text": REVIEW_NEGATIVE}]},
    },
}


# -- responses -----------------------------------------------------------------------------------


class ModelRef(BaseModel):
    """Which registered model version answered."""

    name: str = Field(examples=["SentimentAnalysisModel"])
    version: str = Field(examples=["3"])


class Prediction(BaseModel):
    label: str = Field(description="The most probable label.", examples=["positive"])
    confidence: float = Field(
        ge=0.0, le=1.0, description="The probability of `label`.", examples=[0.97]
    )
    probabilities: dict[str, float] = Field(
        description="The probability of every label the model knows; they sum to 1.",
        examples=[{"negative": 0.03, "positive": 0.97}],
    )


class PredictResponse(Prediction):
    model: ModelRef


class BatchPredictResponse(BaseModel):
    predictions: list[Prediction] = Field(description="One prediction per text, in input order.")
    model: ModelRef


class InvocationsResponse(BaseModel):
    """What `mlflow models serve` answers for this model: the predicted labels, in order."""

    predictions: list[str] = Field(examples=[["positive", "negative"]])


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    status: Literal["ready"] = "ready"
    model: ModelRef


class LoadFailureInfo(BaseModel):
    """The last failed load since the served model was loaded."""

    message: str
    error_type: str = Field(examples=["RegistryUnavailableError"])
    attempt: int = Field(description="Consecutive failed attempts.")
    at: str = Field(description="When it failed (ISO 8601, UTC).")
    retry_in_s: float | None = Field(description="Seconds until the next attempt, if any.")


class ReloadInfo(BaseModel):
    """Live reload: how often the registry is checked, and what the last check found."""

    interval_s: float = Field(description="SENTIMENT_RELOAD_INTERVAL_S; 0: no periodic checks.")
    checks: int = Field(description="Checks since the process started (periodic and forced).")
    last_check_at: str | None = Field(description="When the registry was last checked.")
    last_outcome: (
        Literal["unchanged", "swapped", "load_failed", "skipped", "unreachable"] | None
    ) = Field(
        description="`swapped`: a new version serves; `load_failed`: the new version did not "
        "load or failed its smoke test, the old one serves on; `unreachable`: the registry did "
        "not answer."
    )
    last_message: str | None = Field(examples=["still version 3"])


class ReloadResponse(BaseModel):
    """What a forced check found and did."""

    outcome: Literal["unchanged", "swapped", "skipped"]
    message: str = Field(examples=["serving version 4 instead of version 3, loaded in 0.41 s"])
    serving: str | None = Field(description="The version served now.", examples=["4"])
    previous: str | None = Field(description="The version served before.", examples=["3"])
    candidate: str | None = Field(description="The version the reference points at.")
    checked_at: str | None = Field(description="When (ISO 8601, UTC).")


class RequestedModel(BaseModel):
    alias: str | None = Field(description="The configured alias (SENTIMENT_MODEL_ALIAS).")
    version: str | None = Field(description="The pinned version (SENTIMENT_MODEL_VERSION).")


class ModelInfoResponse(BaseModel):
    """The served model: what it is, where it came from, how well it scored, when it loaded."""

    name: str = Field(examples=["SentimentAnalysisModel"])
    version: str = Field(examples=["3"])
    alias: str | None = Field(
        description="The alias it was served through; null when pinned or fallen back to the "
        "newest version.",
        examples=["champion"],
    )
    resolved_by: Literal["alias", "latest", "version"] = Field(
        description="`alias`: the version carrying the configured alias; `latest`: no version "
        "carries it, so the newest; `version`: pinned by SENTIMENT_MODEL_VERSION."
    )
    requested: RequestedModel
    aliases: list[str] = Field(description="Every alias the version carries now.")
    run_id: str = Field(description="The MLflow run that trained it.")
    model_type: str = Field(examples=["nblr"])
    labels: list[str] = Field(examples=[["negative", "positive"]])
    metrics: dict[str, float] = Field(
        description="Training metrics on the held-out split.",
        examples=[{"accuracy": 0.91, "f1_macro": 0.91}],
    )
    dataset_digest: str = Field(description="Digest of the training data.")
    registered_at: str | None = Field(description="When the version was registered (ISO 8601).")
    loaded_at: str = Field(description="When this process loaded it (ISO 8601, UTC).")
    load_seconds: float = Field(description="How long loading and the smoke test took.")
    last_load_failure: LoadFailureInfo | None = Field(
        description="The last failed load since this model was loaded, if any."
    )
    reload: ReloadInfo | None = Field(
        default=None, description="Live reload (null in an app without a watcher)."
    )


class ErrorDetail(BaseModel):
    """One problem with the request."""

    field: str | None = Field(
        description="Where in the body, e.g. `texts[3]`; null for the body as a whole.",
        examples=["text"],
    )
    code: str = Field(examples=["string_too_short"])
    message: str = Field(examples=["String should have at least 1 character"])


class ErrorInfo(BaseModel):
    code: str = Field(
        description="Stable machine-readable code: invalid_json, invalid_utf8, validation_error, "
        "invalid_input, payload_too_large, unsupported_media_type, request_timeout, "
        "header_too_large (431, from `serve`'s HTTP protocol, before the app), "
        "unauthorized, forbidden, not_found, method_not_allowed, model_not_ready, "
        "registry_unavailable, model_load_failed, internal_error.",
        examples=["validation_error"],
    )
    message: str = Field(
        description="What went wrong, for people. Never contains the submitted text.",
        examples=["the request body does not match the schema"],
    )
    request_id: str = Field(
        description="Also in the X-Request-ID response header; quote it when reporting.",
        examples=["5f0c6e0f2b9a4c1e"],
    )
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one shape of every error this API returns, whatever the status code."""

    error: ErrorInfo
