"""The floor for `cold_start.py`: a FastAPI app whose `POST /predict` returns a constant.

It imports what any FastAPI app on uvicorn imports and nothing else, so its cold start and memory
measure the framework on this machine, right now.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.post("/predict")
async def predict(body: dict[str, Any]) -> dict[str, Any]:
    return {"label": "positive", "confidence": 1.0}
