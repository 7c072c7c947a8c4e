"""The MLflow scoring protocol's JSON request formats, parsed into texts without pandas.

Accepted, as `mlflow models serve` accepts them for a text model (and a little more):

- `{"inputs": ["text", ...]}`
- `{"instances": ["text", ...]}` or `{"instances": [{"text": "..."}, ...]}`
- `{"dataframe_split": {"columns": ["text"], "data": [["..."], ...]}}`
- `{"dataframe_records": [{"text": "..."}, ...]}`

plus an optional `params` object (accepted, unused). The text column of a DataFrame is its only
column whatever its name (as MLflow does), or else the column named `text_column`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sentiment.entrypoints.api.errors import Problem, field_path, key_name, validation_error
from sentiment.entrypoints.api.validation import Limits, check_texts

INPUT_KEYS = ("inputs", "instances", "dataframe_split", "dataframe_records")
OTHER_KEYS = ("params",)
SPLIT_KEYS = ("columns", "data", "index")
NAMED_KEYS = 8  # an error names at most this many of the keys it found, and counts the rest


def texts_from_invocation(
    payload: Any, limits: Limits, text_column: str = "text"
) -> tuple[str, ...]:
    """The texts of an MLflow scoring request, in order. Raises ApiError (422) when malformed."""
    if not isinstance(payload, dict):
        raise _invalid(None, "object_type", "the body must be a JSON object with one input key")
    present = [key for key in INPUT_KEYS if key in payload]
    unknown = [key for key in payload if key not in INPUT_KEYS and key not in OTHER_KEYS]
    if len(present) != 1 or unknown:
        found = _named(list(payload)) or "none"
        raise _invalid(
            None,
            "input_format",
            f"the body must have exactly one of {', '.join(INPUT_KEYS)} (and optionally "
            f"params); found keys: {found}",
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise _invalid("params", "dict_type", "must be an object")
    key = present[0]
    value = payload[key]
    if key == "inputs":
        return _plain_list(value, key, limits)
    if key == "instances":
        return _instances(value, limits, text_column)
    if key == "dataframe_split":
        return _dataframe_split(value, limits, text_column)
    return _records(value, limits, text_column)


def _plain_list(value: Any, key: str, limits: Limits) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _invalid(key, "list_type", "must be an array of strings")
    return check_texts(value, _indexed(key), limits)


def _instances(value: Any, limits: Limits, text_column: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _invalid("instances", "list_type", "must be an array of strings or objects")
    if value and all(isinstance(item, dict) for item in value):
        return _records(value, limits, text_column, key="instances")
    return check_texts(value, _indexed("instances"), limits)


def _records(
    value: Any, limits: Limits, text_column: str, key: str = "dataframe_records"
) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _invalid(key, "list_type", "must be an array of objects, one per row")
    if not value:
        check_texts(value, _indexed(key), limits)  # raises: no texts
    if not all(isinstance(row, dict) for row in value):
        raise _invalid(key, "list_type", "every row must be an object")
    columns = list(dict.fromkeys(c for row in value for c in row))
    column = _text_column(columns, text_column, key)
    texts = [row.get(column) for row in value]
    return check_texts(texts, lambda i: _cell(key, i, column), limits)


def _dataframe_split(value: Any, limits: Limits, text_column: str) -> tuple[str, ...]:
    key = "dataframe_split"
    if not isinstance(value, dict):
        raise _invalid(key, "dict_type", "must be an object with columns and data")
    unknown = [k for k in value if k not in SPLIT_KEYS]
    if unknown:
        found = _named(unknown)
        raise _invalid(
            key, "extra_forbidden", f"unknown key(s): {found}; allowed: columns, data, index"
        )
    if value.get("index") is not None and not isinstance(value["index"], list):
        raise _invalid(f"{key}.index", "list_type", "must be an array of row labels")
    columns, data = value.get("columns"), value.get("data")
    if not isinstance(data, list):
        raise _invalid(f"{key}.data", "list_type", "must be an array of rows")
    if columns is None:
        columns = [text_column] if all(isinstance(r, list) and len(r) == 1 for r in data) else []
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise _invalid(f"{key}.columns", "list_type", "must be an array of column names")
    column = _text_column(columns, text_column, f"{key}.columns")
    position = columns.index(column)
    texts: list[object] = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise _invalid(
                f"{key}.data[{i}]", "row_shape", f"must be an array of {len(columns)} value(s)"
            )
        texts.append(row[position])
    return check_texts(
        texts, lambda i: f"{key}.data[{i}][{position}]" if i >= 0 else f"{key}.data", limits
    )


def _text_column(columns: Sequence[str], text_column: str, where: str) -> str:
    if text_column in columns:
        return text_column
    if len(columns) == 1:
        return columns[0]
    raise _invalid(
        where,
        "text_column",
        f"needs a column named {text_column!r}, or exactly one column; found {len(columns)}",
    )


def _named(keys: Sequence[str]) -> str:
    """The first NAMED_KEYS keys (`<key>` for those that are not names), then how many more."""
    named = ", ".join(key_name(k) for k in keys[:NAMED_KEYS])
    return f"{named} (and {len(keys) - NAMED_KEYS} more)" if len(keys) > NAMED_KEYS else named


def _cell(key: str, row: int, column: str) -> str:
    return (field_path([key, row, column]) or key) if row >= 0 else key


def _indexed(key: str) -> Callable[[int], str]:
    return lambda i: f"{key}[{i}]" if i >= 0 else key


def _invalid(field: str | None, code: str, message: str) -> Exception:
    return validation_error([Problem(field, code, message)])
