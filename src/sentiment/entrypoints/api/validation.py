"""Decoding and checking request bodies: one JSON parser, one set of rules for texts.

Bodies are parsed with orjson (strict UTF-8, no lone surrogates, no NaN). Texts must be strings
with at least one non-whitespace character and at most `max_text_chars` characters; a request
carries 1 to `max_batch` of them. Errors name the field and the limit, never the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from sentiment.entrypoints.api.errors import (
    MAX_PROBLEMS,
    ApiError,
    Problem,
    from_pydantic,
    validation_error,
    validation_problems,
)

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Limits:
    max_batch: int = 256
    max_text_chars: int = 50_000
    max_body_bytes: int = 1_048_576


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body. 400 for invalid UTF-8 or invalid JSON."""
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if not body:
            raise ApiError(
                400, "invalid_json", "the request body is empty: send a JSON object"
            ) from None
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ApiError(
                400,
                "invalid_utf8",
                f"the request body is not valid UTF-8 (first bad byte at offset {bad.start})",
            ) from None
        raise ApiError(
            400,
            "invalid_json",
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
        ) from None


def text_problem(value: object, limits: Limits) -> tuple[str, str] | None:
    """(code, message) when `value` is not an acceptable text, else None."""
    if not isinstance(value, str):
        return "string_type", f"must be a string, not {_json_type(value)}"
    if len(value) > limits.max_text_chars:
        return (
            "string_too_long",
            f"is {len(value)} characters long, over the limit of {limits.max_text_chars} "
            "(SENTIMENT_MAX_TEXT_CHARS)",
        )
    if not value or value.isspace():
        return "blank_text", "is empty or whitespace only; there is nothing to classify"
    return None


def text_problems(
    texts: Sequence[object], field: Callable[[int], str], limits: Limits
) -> tuple[list[Problem], int]:
    """What is wrong with `texts` as a request's texts (their count, else each text): the first
    MAX_PROBLEMS problems, and how many there are in all."""
    if not texts:
        return [Problem(field(-1), "too_short", "needs at least one text")], 1
    if len(texts) > limits.max_batch:
        message = (
            f"has {len(texts)} texts, over the limit of {limits.max_batch} (SENTIMENT_MAX_BATCH)"
        )
        return [Problem(field(-1), "too_long", message)], 1
    problems: list[Problem] = []
    total = 0
    for i, value in enumerate(texts):
        found = text_problem(value, limits)
        if found is not None:
            total += 1
            if len(problems) < MAX_PROBLEMS:  # the rest are counted, not listed
                problems.append(Problem(field(i), *found))
    return problems, total


def check_texts(
    texts: Sequence[object], field: Callable[[int], str], limits: Limits
) -> tuple[str, ...]:
    """The texts, once each is acceptable and their count is within the batch limit (else 422)."""
    problems, total = text_problems(texts, field, limits)
    if problems:
        raise validation_error(problems, total)
    return tuple(texts)  # type: ignore[arg-type]  # every item was checked to be a str


_ABSENT = object()


def schema_refusal(exc: ValidationError, body: object, key: str, limits: Limits) -> ApiError:
    """The 422 for a body its schema refused (not an object, a field missing or unknown, `texts`
    not an array). The texts under `key` (`text` or `texts`), when the body has them, are judged
    by the same rules as on any other request, whatever else is wrong; the schema judges the rest.
    """
    value = body.get(key, _ABSENT) if type(body) is dict else _ABSENT
    texts: Sequence[object]
    if key == "text" and value is not _ABSENT:
        texts, field = [value], (lambda _: "text")
    elif key == "texts" and type(value) is list:
        texts, field = value, (lambda i: f"texts[{i}]" if i >= 0 else "texts")
    else:
        return from_pydantic(exc)
    mine, counted = text_problems(texts, field, limits)
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    rest = validation_problems(e for e in errors if tuple(e.get("loc", ()))[:1] != (key,))
    return validation_error([*mine, *rest], counted + len(rest))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
