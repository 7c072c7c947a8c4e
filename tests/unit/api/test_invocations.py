"""POST /invocations: the MLflow scoring protocol, answered as `mlflow models serve` answers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.entrypoints.api.errors import ApiError
from sentiment.entrypoints.api.invocations import texts_from_invocation
from sentiment.entrypoints.api.validation import Limits
from tests.support.api import MARKER, AppFactory, assert_error

TEXTS = ["A wonderful film, I loved it!", "Awful, boring and far too long.", "Superb acting."]


def formats(texts: list[Any]) -> dict[str, dict[str, Any]]:
    return {
        "inputs": {"inputs": texts},
        "instances": {"instances": texts},
        "instances as records": {"instances": [{"text": t} for t in texts]},
        "dataframe_split": {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}},
        "dataframe_split, other column name": {
            "dataframe_split": {"columns": ["review"], "data": [[t] for t in texts]}
        },
        "dataframe_split with index": {
            "dataframe_split": {
                "index": list(range(len(texts))),
                "columns": ["text"],
                "data": [[t] for t in texts],
            }
        },
        "dataframe_split, several columns": {
            "dataframe_split": {
                "columns": ["id", "text", "stars"],
                "data": [[i, t, 5] for i, t in enumerate(texts)],
            }
        },
        "dataframe_records": {"dataframe_records": [{"text": t} for t in texts]},
        "dataframe_records, other column name": {
            "dataframe_records": [{"review": t} for t in texts]
        },
        "dataframe_records, several columns": {
            "dataframe_records": [{"id": i, "text": t} for i, t in enumerate(texts)]
        },
        "with params": {"inputs": texts, "params": {"threshold": 0.5}},
        "with null params": {"inputs": texts, "params": None},
        "dataframe_split without columns": {"dataframe_split": {"data": [[t] for t in texts]}},
        "dataframe_split with a null index": {
            "dataframe_split": {"index": None, "columns": ["text"], "data": [[t] for t in texts]}
        },
    }


@pytest.mark.parametrize("name", list(formats(TEXTS)))
def test_every_format_gives_the_labels_in_order(client: TestClient, name: str) -> None:
    expected = [client.post("/predict", json={"text": t}).json()["label"] for t in TEXTS]

    response = client.post("/invocations", json=formats(TEXTS)[name])

    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


@given(st.lists(st.text(min_size=1).filter(lambda t: not t.isspace()), min_size=1, max_size=20))
def test_all_formats_carry_the_same_texts(texts: list[str]) -> None:
    limits = Limits(max_batch=20, max_text_chars=10_000)
    for body in formats(texts).values():
        assert texts_from_invocation(body, limits) == tuple(texts)


BAD: dict[str, tuple[Any, str | None]] = {
    "no input key": ({"data": [MARKER]}, None),
    "two input keys": ({"inputs": [MARKER], "instances": [MARKER]}, None),
    "unknown extra key": ({"inputs": [MARKER], "extra": 1}, None),
    "body is a list": ([MARKER], None),
    "params not an object": ({"inputs": [MARKER], "params": [1]}, "params"),
    "inputs is a string": ({"inputs": MARKER}, "inputs"),
    "inputs empty": ({"inputs": []}, "inputs"),
    "inputs has a number": ({"inputs": [MARKER, 1]}, "inputs[1]"),
    "inputs has a blank": ({"inputs": [MARKER, " "]}, "inputs[1]"),
    "inputs nested": ({"inputs": [[MARKER]]}, "inputs[0]"),
    "instances not a list": ({"instances": {"text": MARKER}}, "instances"),
    "instances record without text": (
        {"instances": [{"a": MARKER, "b": MARKER}]},
        "instances",
    ),
    "split without data": ({"dataframe_split": {"columns": ["text"]}}, "dataframe_split.data"),
    "split not an object": ({"dataframe_split": [MARKER]}, "dataframe_split"),
    "split short row": (
        {"dataframe_split": {"columns": ["id", "text"], "data": [[MARKER]]}},
        "dataframe_split.data[0]",
    ),
    "split no text column": (
        {"dataframe_split": {"columns": ["a", "b"], "data": [[MARKER, MARKER]]}},
        "dataframe_split.columns",
    ),
    "split null text": (
        {"dataframe_split": {"columns": ["text"], "data": [[None]]}},
        "dataframe_split.data[0][0]",
    ),
    "split empty": ({"dataframe_split": {"columns": ["text"], "data": []}}, "dataframe_split.data"),
    "records not a list": ({"dataframe_records": {"text": MARKER}}, "dataframe_records"),
    "records with a string row": ({"dataframe_records": [MARKER]}, "dataframe_records"),
    "records missing the text": (
        {"dataframe_records": [{"text": MARKER}, {"other": MARKER}]},
        "dataframe_records[1].text",
    ),
    "records empty": ({"dataframe_records": []}, "dataframe_records"),
}


@pytest.mark.parametrize("case", list(BAD.values()), ids=list(BAD))
def test_malformed_requests_get_422_naming_the_field(
    client: TestClient, case: tuple[Any, str | None]
) -> None:
    body, field = case
    error = assert_error(client.post("/invocations", json=body), 422, "validation_error")
    assert error["details"][0]["field"] == field, error


SPLIT = {"columns": ["text"], "data": [[MARKER]]}
ALLOWED = "allowed: columns, data, index"
SPLIT_PROBLEMS: dict[str, tuple[dict[str, Any], str, str, str]] = {
    # name: (dataframe_split, field, code, message)
    "unknown key": (
        {**SPLIT, "extra": 1},
        "dataframe_split",
        "extra_forbidden",
        f"unknown key(s): extra; {ALLOWED}",
    ),
    "unknown keys named like request parts": (
        {**SPLIT, "path": 1, "body": 2},
        "dataframe_split",
        "extra_forbidden",
        f"unknown key(s): path, body; {ALLOWED}",
    ),
    "unknown keys that are not names": (
        {**SPLIT, f"{MARKER} <b>": 1, "ok": 2},
        "dataframe_split",
        "extra_forbidden",
        f"unknown key(s): <key>, ok; {ALLOWED}",
    ),
    "index a string": (
        {**SPLIT, "index": "0"},
        "dataframe_split.index",
        "list_type",
        "must be an array of row labels",
    ),
    "index an object": (
        {**SPLIT, "index": {"0": 0}},
        "dataframe_split.index",
        "list_type",
        "must be an array of row labels",
    ),
    "columns not strings": (
        {**SPLIT, "columns": [1]},
        "dataframe_split.columns",
        "list_type",
        "must be an array of column names",
    ),
    "columns a string": (
        {**SPLIT, "columns": "text"},
        "dataframe_split.columns",
        "list_type",
        "must be an array of column names",
    ),
}


@pytest.mark.parametrize("case", list(SPLIT_PROBLEMS.values()), ids=list(SPLIT_PROBLEMS))
def test_a_malformed_dataframe_split_names_the_field_and_the_problem(
    client: TestClient, case: tuple[dict[str, Any], str, str, str]
) -> None:
    split, field, code, message = case
    response = client.post("/invocations", json={"dataframe_split": split})
    error = assert_error(response, 422, "validation_error")
    assert error["details"] == [{"field": field, "code": code, "message": message}]
    assert error["message"] == f"invalid request: {field}: {message}"


ONE_OF = (
    "the body must have exactly one of inputs, instances, dataframe_split, dataframe_records "
    "(and optionally params); found keys: "
)
NO_TEXT_COLUMN = "needs a column named 'text', or exactly one column; found 2"
PROBLEMS: dict[str, tuple[Any, str | None, str, str]] = {
    # name: (body, field, code, message)
    "body is a list": (
        [MARKER],
        None,
        "object_type",
        "the body must be a JSON object with one input key",
    ),
    "no keys": ({}, None, "input_format", ONE_OF + "none"),
    "params alone": ({"params": {}}, None, "input_format", ONE_OF + "params"),
    "keys named like request parts": (
        {"body": [MARKER], "query": 1},
        None,
        "input_format",
        ONE_OF + "body, query",
    ),
    "params not an object": (
        {"inputs": ["fine"], "params": [1]},
        "params",
        "dict_type",
        "must be an object",
    ),
    "inputs a string": ({"inputs": MARKER}, "inputs", "list_type", "must be an array of strings"),
    "instances an object": (
        {"instances": {"text": MARKER}},
        "instances",
        "list_type",
        "must be an array of strings or objects",
    ),
    "instances with a number": (
        {"instances": ["fine", 1]},
        "instances[1]",
        "string_type",
        "must be a string, not a number",
    ),
    "records an object": (
        {"dataframe_records": {"text": MARKER}},
        "dataframe_records",
        "list_type",
        "must be an array of objects, one per row",
    ),
    "records with a string row": (
        {"dataframe_records": [{"text": "fine"}, MARKER]},
        "dataframe_records",
        "list_type",
        "every row must be an object",
    ),
    "records empty": (
        {"dataframe_records": []},
        "dataframe_records",
        "too_short",
        "needs at least one text",
    ),
    "records without the text column": (
        {"dataframe_records": [{"a": MARKER, "b": MARKER}]},
        "dataframe_records",
        "text_column",
        NO_TEXT_COLUMN,
    ),
    "record 0 without the text": (
        {"dataframe_records": [{"other": MARKER}, {"text": "fine"}]},
        "dataframe_records[0].text",
        "string_type",
        "must be a string, not null",
    ),
    "split not an object": (
        {"dataframe_split": [MARKER]},
        "dataframe_split",
        "dict_type",
        "must be an object with columns and data",
    ),
    "split data an object": (
        {"dataframe_split": {"columns": ["text"], "data": {"0": MARKER}}},
        "dataframe_split.data",
        "list_type",
        "must be an array of rows",
    ),
    "split row not an array": (
        {"dataframe_split": {"columns": ["text"], "data": [[MARKER], "x"]}},  # len("x") == 1
        "dataframe_split.data[1]",
        "row_shape",
        "must be an array of 1 value(s)",
    ),
    "split row too long": (
        {"dataframe_split": {"columns": ["id", "text"], "data": [[1, MARKER, 2]]}},
        "dataframe_split.data[0]",
        "row_shape",
        "must be an array of 2 value(s)",
    ),
    "split without the text column": (
        {"dataframe_split": {"columns": ["a", "b"], "data": [[MARKER, MARKER]]}},
        "dataframe_split.columns",
        "text_column",
        NO_TEXT_COLUMN,
    ),
    "split without columns, rows of two": (
        {"dataframe_split": {"data": [[MARKER, MARKER]]}},
        "dataframe_split.columns",
        "text_column",
        "needs a column named 'text', or exactly one column; found 0",
    ),
    "split cell of the text column": (
        {"dataframe_split": {"columns": ["id", "text"], "data": [[1, "fine"], [2, " "]]}},
        "dataframe_split.data[1][1]",
        "blank_text",
        "is empty or whitespace only; there is nothing to classify",
    ),
}


@pytest.mark.parametrize("case", list(PROBLEMS.values()), ids=list(PROBLEMS))
def test_a_malformed_request_gets_the_code_and_message_of_its_problem(
    client: TestClient, case: tuple[Any, str | None, str, str]
) -> None:
    body, field, code, message = case
    error = assert_error(client.post("/invocations", json=body), 422, "validation_error")
    assert error["details"] == [{"field": field, "code": code, "message": message}]
    assert error["message"] == f"invalid request: {f'{field}: ' if field else ''}{message}"


@pytest.mark.parametrize(
    ("count", "named"),
    [
        (8, "k0, k1, k2, k3, k4, k5, k6, k7"),
        (9, "k0, k1, k2, k3, k4, k5, k6, k7 (and 1 more)"),
    ],
)
def test_the_first_eight_keys_found_are_named(client: TestClient, count: int, named: str) -> None:
    body = {f"k{i}": MARKER for i in range(count)}
    error = assert_error(client.post("/invocations", json=body), 422, "validation_error")
    assert error["details"][0]["message"] == ONE_OF + named


def test_the_batch_limit_applies(make_app: AppFactory, registry: InMemoryModelRegistry) -> None:
    with TestClient(make_app(registry, max_batch=2)) as client:
        assert_error(
            client.post("/invocations", json={"inputs": ["a", "b", MARKER]}),
            422,
            "validation_error",
        )


def test_column_names_that_are_not_names_are_not_echoed() -> None:
    weird = f"{MARKER} <script>"
    with pytest.raises(ApiError) as caught:
        texts_from_invocation(
            {"dataframe_records": [{"text": "fine"}, {weird: "x"}]}, Limits(), "text"
        )
    assert MARKER not in str(caught.value.details)
    assert caught.value.details[0].field == "dataframe_records[1].text"


@pytest.mark.parametrize("where", ["body", "dataframe_split"])
def test_a_flood_of_unknown_keys_gets_a_short_answer(client: TestClient, where: str) -> None:
    # Every unknown key was named in the message (twice: message and details): a 1 MB body of
    # keys came back as a 1.4 MB answer.
    keys = {f"key_{i}": 0 for i in range(1000)}
    body: dict[str, Any] = (
        {"inputs": [MARKER], **keys}
        if where == "body"
        else {"dataframe_split": {"data": [[MARKER]], **keys}}
    )
    response = client.post("/invocations", json=body)
    error = assert_error(response, 422, "validation_error")
    assert len(response.content) < 1500
    message = error["details"][0]["message"]
    named = "inputs, key_0, key_1, key_2, key_3, key_4, key_5, key_6 (and 993 more)"
    if where == "dataframe_split":
        named = "key_0, key_1, key_2, key_3, key_4, key_5, key_6, key_7 (and 992 more)"
    assert named in message, message
