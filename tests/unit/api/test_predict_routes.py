"""The prediction routes with valid input: shapes, order, odd-but-valid text, the model named,
and where the texts are classified (on the event loop or in a worker thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.model import Prediction
from sentiment.entrypoints.api import schemas
from sentiment.entrypoints.api.routes_predict import INLINE_CHARS
from tests.support.api import AppFactory, FixedClassifier, registry_with, sample_rows

POSITIVE = "A wonderful, moving film. The acting is superb and I loved every minute of it."
NEGATIVE = "Awful. A boring, stupid plot, terrible acting and a waste of two hours."


def test_predict_answers_label_confidence_probabilities_and_model(
    client: TestClient, classifier: SklearnClassifier
) -> None:
    response = client.post("/predict", json={"text": POSITIVE})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    schemas.PredictResponse.model_validate(body)
    expected = classifier.predict([POSITIVE])[0]
    assert body["label"] == expected.label
    assert body["probabilities"] == pytest.approx(dict(expected.probabilities))
    assert body["confidence"] == pytest.approx(expected.confidence)
    assert body["confidence"] == max(body["probabilities"].values())
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert set(body["probabilities"]) == {"negative", "positive"}
    assert body["model"] == {"name": "SentimentAnalysisModel", "version": "1"}


def test_the_small_model_tells_clear_reviews_apart(client: TestClient) -> None:
    labels = [
        client.post("/predict", json={"text": t}).json()["label"] for t in (POSITIVE, NEGATIVE)
    ]
    assert labels == ["positive", "negative"]


def test_batch_keeps_input_order_and_matches_single_predictions(client: TestClient) -> None:
    texts = [text for text, _ in sample_rows(40, seed=99)]

    response = client.post("/predict/batch", json={"texts": texts})

    assert response.status_code == 200
    body = response.json()
    schemas.BatchPredictResponse.model_validate(body)
    assert len(body["predictions"]) == len(texts)
    assert body["model"] == {"name": "SentimentAnalysisModel", "version": "1"}
    for text in (texts[0], texts[17], texts[-1]):
        single = client.post("/predict", json={"text": text}).json()
        batched = body["predictions"][texts.index(text)]
        assert batched["label"] == single["label"]
        assert batched["confidence"] == pytest.approx(single["confidence"])


def test_a_batch_of_one_and_a_batch_at_the_limit_are_fine(
    make_app: AppFactory, registry: InMemoryModelRegistry
) -> None:
    with TestClient(make_app(registry, max_batch=5)) as client:
        assert client.post("/predict/batch", json={"texts": ["fine"]}).status_code == 200
        response = client.post("/predict/batch", json={"texts": ["good"] * 5})
        assert response.status_code == 200
        assert len(response.json()["predictions"]) == 5


ODD_BUT_VALID = {
    "emoji": "😀😀😀 best film ever 🎬🍿",
    "emoji only": "👍",
    "japanese": "素晴らしい映画でした。もう一度見たい。",
    "arabic (rtl)": "فيلم رائع جدا، أحببته",
    "mixed direction": "great \u202eevil\u202c film",
    "html": "<p>Great <b>film</b></p><script>alert('x')</script><br /><br />",
    "one-character words": "a b c d e f g h i j",
    "one character": "x",
    "nul byte": "good\u0000film",
    "zero-width characters": "\u200b\u200cgreat\u200d\ufeff",
    "combining marks": "e\u0301 n\u0303 great",
    "astral plane": "\U0001d54f\U0001d556\U0001d55d",
    "json lookalike": '{"text": "nested"}',
    "newlines and tabs": "line one\n\tline two\r\n",
}


@pytest.mark.parametrize("text", list(ODD_BUT_VALID.values()), ids=list(ODD_BUT_VALID))
def test_odd_but_valid_text_gets_a_normal_prediction(client: TestClient, text: str) -> None:
    response = client.post("/predict", json={"text": text})
    assert response.status_code == 200, response.text
    schemas.PredictResponse.model_validate(response.json())


def test_odd_texts_in_one_batch(client: TestClient) -> None:
    texts = list(ODD_BUT_VALID.values())
    response = client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == len(texts)


def test_text_at_the_length_limit_is_accepted(
    make_app: AppFactory, registry: InMemoryModelRegistry
) -> None:
    with TestClient(make_app(registry, max_text_chars=20_000)) as client:
        text = ("great film " * 2000)[:20_000]
        assert len(text) == 20_000
        assert client.post("/predict", json={"text": text}).status_code == 200  # a thread hop


def test_default_limits_accept_a_50000_character_text(client: TestClient) -> None:
    text = ("superb " * 10_000)[:50_000]
    assert client.post("/predict", json={"text": text}).status_code == 200


def test_charset_utf8_and_a_byte_order_mark_are_accepted(client: TestClient) -> None:
    body = '{"text": "très bon film"}'.encode()
    for content_type, payload in [
        ("application/json; charset=utf-8", body),
        ('Application/JSON; charset="UTF-8"', body),
        ("application/json", b"\xef\xbb\xbf" + body),
    ]:
        response = client.post("/predict", content=payload, headers={"content-type": content_type})
        assert response.status_code == 200, (content_type, response.text)


class WhereClassifier(FixedClassifier):
    """Answers as FixedClassifier; notes for each call whether it ran on the event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.on_loop: list[bool] = []

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:
            self.on_loop.append(False)
        return super().predict(texts)


@pytest.mark.parametrize(
    ("path", "body", "on_loop"),
    [
        ("/predict", {"text": "x" * INLINE_CHARS}, True),
        ("/predict", {"text": "x" * (INLINE_CHARS + 1)}, False),
        ("/predict/batch", {"texts": ["x" * (INLINE_CHARS - 1), "y"]}, True),
        ("/predict/batch", {"texts": ["x" * INLINE_CHARS, "y"]}, False),
        ("/invocations", {"inputs": ["x", "y" * (INLINE_CHARS - 1)]}, True),
        ("/invocations", {"inputs": ["x", "y" * INLINE_CHARS]}, False),
    ],
    ids=["short", "long", "batch-short", "batch-long", "invocations-short", "invocations-long"],
)
def test_long_inputs_are_classified_off_the_event_loop_and_short_ones_on_it(
    make_app: AppFactory, path: str, body: dict[str, object], on_loop: bool
) -> None:
    # Up to INLINE_CHARS characters in all, a thread hop costs more than the prediction; beyond
    # it, the event loop must stay free to answer /health and /ready meanwhile.
    model = WhereClassifier()
    app = make_app(registry_with(model), batch_max_size=0)
    with TestClient(app) as client:
        model.on_loop.clear()  # the smoke test's call at load time
        assert client.post(path, json=body).status_code == 200
    assert model.on_loop == [on_loop]
