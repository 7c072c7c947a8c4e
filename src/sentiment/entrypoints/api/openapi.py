"""The OpenAPI document: request bodies read raw are declared here, with the configured limits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from sentiment.entrypoints.api.validation import Limits

REF_TEMPLATE = "#/components/schemas/{model}"


# One character that is not whitespace by `str.isspace` (the API's rule for a blank text), spelt
# out so that every regex dialect (Python, ECMA, Rust) reads it the same way; `\S` does not:
# U+001C..U+001F are whitespace to Python, not to Rust. A unit test derives it again.
NOT_ONLY_WHITESPACE = (
    "[^\\u0009-\\u000D\\u001C-\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029"
    "\\u202F\\u205F\\u3000]"
)


def install_openapi(
    app: FastAPI,
    limits: Limits,
    body_models: Sequence[type[BaseModel]],
    security: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Serve an OpenAPI document that includes `body_models`, states `limits`, and is finished
    by `security` (which declares the security schemes)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in body_models:
            model_schema = model.model_json_schema(ref_template=REF_TEMPLATE)
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = model_schema
        apply_limits(components, limits)
        if security is not None:
            security(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def text_schema(limits: Limits) -> dict[str, Any]:
    """One text as the API accepts it: 1 to max_text_chars characters, not all whitespace."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": limits.max_text_chars,
        "pattern": NOT_ONLY_WHITESPACE,
        "description": "Any Unicode; at least one non-whitespace character.",
    }


def apply_limits(components: dict[str, Any], limits: Limits) -> None:
    """Write the configured limits and the text rules into the request schemas, so that a
    request is valid by the document exactly when the API accepts it."""
    text = text_schema(limits)
    if "PredictRequest" in components:
        components["PredictRequest"]["properties"]["text"].update(text)
    if "BatchPredictRequest" in components:
        prop = components["BatchPredictRequest"]["properties"]["texts"]
        prop.update(maxItems=limits.max_batch, items=text)
    if "InvocationsRequest" in components:
        current = components["InvocationsRequest"]
        components["InvocationsRequest"] = {
            **invocations_schema(limits),
            **{k: current[k] for k in ("title", "description", "examples") if k in current},
        }


def invocations_schema(limits: Limits) -> dict[str, Any]:
    """The MLflow scoring formats `/invocations` accepts, as one `oneOf`.

    A DataFrame may also carry other columns beside `text` (the text column is the one named
    `text`, or the only one); JSON Schema cannot tie a row's length to the column count, so the
    document shows the one-column form. Likewise a record may hold its text under another name
    when it is the only field of every record; the document shows `text`.
    """
    text = text_schema(limits)
    texts = {"type": "array", "minItems": 1, "maxItems": limits.max_batch, "items": text}
    record = {
        "type": "object",
        "required": ["text"],
        "properties": {"text": text},
        "description": "One row: the text, and optionally other columns (ignored).",
    }
    records = {**texts, "items": record}
    params = {
        "type": ["object", "null"],
        "description": "Inference parameters (accepted for compatibility; none are used).",
    }

    def form(key: str, value: dict[str, Any], description: str) -> dict[str, Any]:
        return {
            "type": "object",
            "title": key,
            "description": description,
            "required": [key],
            "properties": {key: value, "params": params},
            "additionalProperties": False,
        }

    split = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "columns": {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "minItems": 1,
                "maxItems": 1,
                "description": "The one column's name, whatever it is (may be left out).",
            },
            "data": {
                **texts,
                "items": {"type": "array", "items": text, "minItems": 1, "maxItems": 1},
                "description": "The rows, each `[text]`.",
            },
            "index": {"type": ["array", "null"], "description": "Row labels (ignored)."},
        },
        "additionalProperties": False,
    }
    return {
        "oneOf": [
            form("inputs", texts, "The texts, as a list of strings."),
            form(
                "instances",
                {"oneOf": [texts, records]},
                "The texts, as strings or as objects with a `text` field.",
            ),
            form("dataframe_split", split, "A DataFrame in `split` orientation."),
            form("dataframe_records", records, "A DataFrame as records: one object per row."),
        ]
    }
