"""Property tests of the request rules: the parser, the text checks, the request models, and the
OpenAPI document's description of a text, which must agree with the checks exactly."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeVar

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from sentiment.entrypoints.api import schemas
from sentiment.entrypoints.api.errors import ApiError, from_pydantic
from sentiment.entrypoints.api.openapi import NOT_ONLY_WHITESPACE, text_schema
from sentiment.entrypoints.api.validation import Limits, check_texts, parse_json, text_problem
from tests.support.api import MARKER

T = TypeVar("T")
LIMITS = Limits(max_batch=4, max_text_chars=40)
DOCUMENTED = re.compile(NOT_ONLY_WHITESPACE)
# Every kind of character: whitespace of all sorts, zero-width and direction marks, NUL, emoji.
SPECIAL = (
    " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u200b\u200d\u200e\u200f\u2028\u202e\u3000"
    "\ufeff\x00😀"
)
texts = st.text(st.characters(codec="utf-8") | st.sampled_from(SPECIAL), max_size=50)


def attempt(call: Callable[[], T]) -> T | ApiError:
    """The call's result, or the ApiError it raised (any other exception fails the test)."""
    try:
        return call()
    except ApiError as error:
        return error


def test_the_documented_pattern_is_str_isspace_spelt_out() -> None:
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:
            continue  # surrogates never reach a check: the JSON parser refuses them
        char = chr(code)
        assert (DOCUMENTED.search(char) is None) == char.isspace(), hex(code)


@given(texts)
@example("\x1c\x1d\x1e\x1f")
@example("\u200b")
@example("\x00")
@example("a" * 41)
def test_the_document_and_the_check_agree_on_every_text(text: str) -> None:
    schema = text_schema(LIMITS)
    documented_ok = (
        schema["minLength"] <= len(text) <= schema["maxLength"]
        and DOCUMENTED.search(text) is not None
    )
    assert (text_problem(text, LIMITS) is None) == documented_ok


@given(st.lists(texts | st.integers() | st.none() | st.booleans(), max_size=6))
def test_check_texts_accepts_exactly_the_good_batches_and_never_echoes(items: list[object]) -> None:
    marked = [f"{MARKER}{i}" if isinstance(i, str) and len(i) > 30 else i for i in items]
    good = 1 <= len(marked) <= LIMITS.max_batch and all(
        text_problem(item, LIMITS) is None for item in marked
    )
    outcome = attempt(lambda: check_texts(marked, lambda i: f"texts[{i}]", LIMITS))
    if isinstance(outcome, ApiError):
        assert not good
        assert outcome.status == 422
        assert outcome.details
        assert MARKER not in outcome.message
        assert all(MARKER not in d.message for d in outcome.details)
    else:
        assert good
        assert list(outcome) == marked


@given(st.binary(max_size=64) | texts.map(lambda t: t.encode("utf-8", "surrogatepass")))
@example(b"\xef\xbb\xbf{}")
@example(b'{"text": "\\ud800"}')
@example(b"NaN")
@example(b"")
def test_the_parser_returns_json_or_a_400_never_anything_else(body: bytes) -> None:
    outcome = attempt(lambda: parse_json(body))
    if isinstance(outcome, ApiError):
        assert outcome.status == 400
        assert outcome.code in ("invalid_json", "invalid_utf8")
    else:
        assert orjson.loads(orjson.dumps(outcome)) == outcome


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@given(json_values)
def test_json_survives_the_parser_unchanged(value: object) -> None:
    assert parse_json(json.dumps(value, ensure_ascii=False).encode("utf-8")) == value
    assert parse_json(b"\xef\xbb\xbf" + json.dumps(value).encode("ascii")) == value


@given(st.dictionaries(st.sampled_from(["text", "txt", "texts", "a key"]), json_values, max_size=3))
def test_request_model_errors_name_fields_not_values(data: dict[str, object]) -> None:
    data = {k: (f"{MARKER} {v}" if isinstance(v, str) else v) for k, v in data.items()}
    try:
        model = schemas.PredictRequest.model_validate(data)
    except ValidationError as exc:
        error = from_pydantic(exc)
        assert error.status == 422
        rendered = json.dumps([d.as_dict() for d in error.details]) + error.message
        assert MARKER not in rendered
    else:
        assert set(data) == {"text"}
        assert isinstance(model.text, str)
        assert model.text


@pytest.mark.parametrize("char", ["\u200b", "\u200e", "\u202e", "\ufeff", "\x00", "😀"])
def test_invisible_and_unusual_characters_are_text(char: str) -> None:
    # Zero-width, direction marks, BOM, NUL and emoji are not whitespace: they are classified.
    assert not char.isspace()
    assert text_problem(char, LIMITS) is None
