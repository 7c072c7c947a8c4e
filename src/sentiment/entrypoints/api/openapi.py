"""The OpenAPI document: request bodies read raw are declared here, with the configured limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from sentiment.entrypoints.api.validation import Limits

REF_TEMPLATE = "#/components/schemas/{model}"


def install_openapi(app: FastAPI, limits: Limits, body_models: Sequence[type[BaseModel]]) -> None:
    """Serve an OpenAPI document that includes `body_models` and states `limits`."""

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
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def apply_limits(components: dict[str, Any], limits: Limits) -> None:
    """Write the configured text length and batch size limits into the request schemas."""
    text = {"maxLength": limits.max_text_chars}
    texts = {"maxItems": limits.max_batch}
    if "PredictRequest" in components:
        components["PredictRequest"]["properties"]["text"].update(text)
    if "BatchPredictRequest" in components:
        prop = components["BatchPredictRequest"]["properties"]["texts"]
        prop.update(texts)
        prop.setdefault("items", {}).update(text)
    if "InvocationsRequest" in components:
        for name in ("inputs", "instances", "dataframe_records"):
            for branch in _array_branches(components["InvocationsRequest"]["properties"][name]):
                branch.update(texts)
                if name == "inputs":
                    branch.setdefault("items", {}).update(text)


def _array_branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    branches = prop.get("anyOf", [prop])
    return [b for b in branches if b.get("type") == "array"]
