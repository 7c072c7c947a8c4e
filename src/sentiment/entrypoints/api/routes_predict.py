"""POST /predict, /predict/batch and /invocations: the hot path.

Each request reads the served model once (`ServedModel.require`) and answers with that object
even if a new model is swapped in meanwhile. Bodies are read raw (already size- and type-checked
by the middleware), parsed with orjson and validated lightly; responses are orjson bytes.
Single texts on /predict go through the micro-batcher when it is on (SENTIMENT_BATCH_MAX_SIZE):
concurrent requests are classified together in one vectorized call in one worker thread, each
with the model it read. Otherwise, and for /predict/batch and /invocations, short inputs are
classified inline (faster than a thread hop) and long ones in a worker thread, so that the event
loop keeps answering /health and /ready.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from sentiment.application.batching import MicroBatcher, contained
from sentiment.application.load_model import LoadedModel
from sentiment.application.predict import Predict, PredictCommand
from sentiment.domain.model import Prediction
from sentiment.entrypoints.api import schemas
from sentiment.entrypoints.api.errors import JsonResponse, error_responses
from sentiment.entrypoints.api.invocations import texts_from_invocation
from sentiment.entrypoints.api.logs import note_prediction
from sentiment.entrypoints.api.state import ApiState, model_ref
from sentiment.entrypoints.api.validation import check_texts, parse_json, schema_refusal

PREDICT, BATCH, INVOCATIONS = "/predict", "/predict/batch", "/invocations"
JSON_ROUTES = (PREDICT, BATCH, INVOCATIONS)
INLINE_CHARS = 8_192  # up to this many characters in total, classify on the event loop
BODY_ERRORS = error_responses(400, 408, 413, 415, 422, 503)


def json_body(model: type[Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """OpenAPI `requestBody` for a body read raw and validated against `model`."""
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    if examples:
        media["examples"] = examples
    return {"requestBody": {"required": True, "content": {"application/json": media}}}


async def classify(model: LoadedModel, texts: tuple[str, ...]) -> tuple[Prediction, ...]:
    use_case = Predict(model.classifier)
    command = PredictCommand(texts)
    if sum(len(t) for t in texts) <= INLINE_CHARS:
        return contained(use_case.execute, command).predictions
    result = await anyio.to_thread.run_sync(contained, use_case.execute, command)
    return result.predictions


def predict_texts(model: LoadedModel, texts: Sequence[str]) -> tuple[Prediction, ...]:
    """What the micro-batcher runs in its worker thread: one call for several requests."""
    return Predict(model.classifier).execute(PredictCommand(tuple(texts))).predictions


def prediction_batcher(
    max_size: int, max_wait_ms: float, observe: Callable[[int, float], None] | None = None
) -> MicroBatcher[LoadedModel, str, Prediction] | None:
    """The micro-batcher of single predictions; None when it is off (max_size 0 or 1).
    `observe(size, waited_s)` hears of each batch (the API's metrics)."""
    if max_size <= 1:
        return None
    return MicroBatcher(
        predict_texts, max_size=max_size, max_wait_s=max_wait_ms / 1000.0, observe=observe
    )


def prediction_dict(p: Prediction) -> dict[str, Any]:
    probabilities = dict(p.probabilities)
    return {"label": p.label, "confidence": probabilities[p.label], "probabilities": probabilities}


def prediction_router(state: ApiState) -> APIRouter:
    router = APIRouter(tags=["predict"])
    served, metrics, limits, batcher = state.served, state.metrics, state.limits, state.batcher

    def observe(route: str, model: LoadedModel, predictions: Sequence[Prediction]) -> None:
        metrics.observe_predictions(route, model.version, predictions)

    @router.post(
        PREDICT,
        summary="Classify one text",
        response_model=schemas.PredictResponse,
        responses=BODY_ERRORS,
        openapi_extra=json_body(schemas.PredictRequest),
    )
    async def predict(request: Request) -> Response:
        data = parse_json(await request.body())
        if not (type(data) is dict and len(data) == 1 and "text" in data):
            # The schema's own errors: not an object, missing or extra fields.
            try:
                data = {"text": schemas.PredictRequest.model_validate(data).text}
            except ValidationError as exc:
                raise schema_refusal(exc, data, "text", limits) from None
        text = check_texts((data["text"],), lambda _: "text", limits)[0]
        model = served.require()
        if batcher is not None:
            predictions: Sequence[Prediction] = (await batcher.submit(model, text),)
        else:
            predictions = await classify(model, (text,))
        observe(PREDICT, model, predictions)
        note_prediction(request.scope, model.version, (text,))
        return JsonResponse({**prediction_dict(predictions[0]), "model": model_ref(model)})

    @router.post(
        BATCH,
        summary="Classify several texts at once",
        description=f"1 to SENTIMENT_MAX_BATCH (default {limits.max_batch}) texts; the "
        "predictions come back in the order of the texts.",
        response_model=schemas.BatchPredictResponse,
        responses=BODY_ERRORS,
        openapi_extra=json_body(schemas.BatchPredictRequest),
    )
    async def predict_batch(request: Request) -> Response:
        data = parse_json(await request.body())
        if type(data) is dict and len(data) == 1 and type(data.get("texts")) is list:
            items = data["texts"]
        else:  # the schema's own errors: not an object, missing or extra fields, not a list
            try:
                items = schemas.BatchPredictRequest.model_validate(data).texts
            except ValidationError as exc:
                raise schema_refusal(exc, data, "texts", limits) from None
        texts = check_texts(items, lambda i: f"texts[{i}]" if i >= 0 else "texts", limits)
        model = served.require()
        predictions = await classify(model, texts)
        observe(BATCH, model, predictions)
        note_prediction(request.scope, model.version, texts)
        return JsonResponse(
            {"predictions": [prediction_dict(p) for p in predictions], "model": model_ref(model)}
        )

    @router.post(
        INVOCATIONS,
        summary="Classify texts (MLflow scoring protocol)",
        description="Drop-in for `mlflow models serve`: the same request formats and the same "
        '`{"predictions": [label, ...]}` answer. Texts follow this API\'s rules (non-blank, '
        "at most SENTIMENT_MAX_TEXT_CHARS characters, 1 to SENTIMENT_MAX_BATCH of them).",
        response_model=schemas.InvocationsResponse,
        responses=BODY_ERRORS,
        openapi_extra=json_body(schemas.InvocationsRequest, schemas.INVOCATIONS_EXAMPLES),
    )
    async def invocations(request: Request) -> Response:
        texts = texts_from_invocation(parse_json(await request.body()), limits, state.text_column)
        model = served.require()
        predictions = await classify(model, texts)
        observe(INVOCATIONS, model, predictions)
        note_prediction(request.scope, model.version, texts)
        return JsonResponse({"predictions": [p.label for p in predictions]})

    return router
