"""Hyperparameters as a user gives them (`-p NAME=VALUE`, SENTIMENT_HYPERPARAMETERS JSON, a
Python caller): each model type's defaults, the range each value must be in (both ends
accepted, a step beyond refused with a message naming the hyperparameter and its range), the
conversion to int or float, and the parsing of the command line's pairs."""

from __future__ import annotations

import math

import pytest

from sentiment.adapters.hyperparameters import (
    DEFAULT_MODEL_TYPE,
    DEFAULTS,
    checked,
    parse_hyperparameters,
)
from sentiment.domain.errors import ClassifierError
from sentiment.domain.model import ParamValue

MODEL_TYPES = ("nblr", "nblr-ctx", "nblr-lm", "tfidf-lr")

# name: (lowest, highest, a value just below, a value just above); the bounds are inclusive.
COMMON: dict[str, tuple[float, float, float, float]] = {
    "ngram_max": (1, 5, 0, 6),
    "C": (1e-6, 1e6, 0.0, 1000001.0),
    "nb_alpha": (1e-6, 1e3, 0.0, 1001.0),
    "beta": (0.0, 1.0, -0.01, 1.01),
    "min_df": (1, 1_000_000, 0, 1_000_001),
    "max_iter": (1, 1_000_000, 0, 1_000_001),
    "negation_window": (1, 50, 0, 51),
    "inner_folds": (2, 10, 1, 11),  # stacking needs two folds at least
    "stack_C": (1e-6, 1e6, 0.0, 1000001.0),
    "lm_order": (1, 5, 0, 6),
    "lm_min_count": (1, 1_000_000, 0, 1_000_001),
    "lm_discount": (0.01, 0.99, 0.0, 1.0),  # absolute discounting: strictly between 0 and 1
}
# nblr and nblr-lm store only the columns they saw: a hashing space as large as 2**30. The others
# store a dense coefficient per column: 2**26 at most.
FEATURES_LOG2 = {
    "nblr": (1, 30, 0, 31),
    "nblr-lm": (1, 30, 0, 31),
    "nblr-ctx": (1, 26, 0, 27),
    "tfidf-lr": (1, 26, 0, 27),
}
FLAGS = {"calibrate", "mask_names"}


def ranges(model_type: str) -> dict[str, tuple[float, float, float, float]]:
    numeric = set(DEFAULTS[model_type]) - FLAGS
    return {
        name: FEATURES_LOG2[model_type] if name == "n_features_log2" else COMMON[name]
        for name in sorted(numeric)
    }


def range_cases() -> list[tuple[str, str, tuple[float, float, float, float]]]:
    return [(t, name, bounds) for t in MODEL_TYPES for name, bounds in ranges(t).items()]


# -- defaults ------------------------------------------------------------------------------------


def test_the_model_types_and_the_default_one() -> None:
    assert tuple(sorted(DEFAULTS)) == MODEL_TYPES
    assert DEFAULT_MODEL_TYPE == "nblr-lm"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_nothing_given_is_the_defaults_and_every_default_is_in_its_own_range(
    model_type: str,
) -> None:
    defaults = DEFAULTS[model_type]
    assert checked(model_type, {}) == defaults
    # Given back explicitly, the defaults pass their own checks unchanged, types included.
    again = checked(model_type, defaults)
    assert again == defaults
    assert {k: type(v) for k, v in again.items()} == {k: type(v) for k, v in defaults.items()}
    for name, value in defaults.items():
        if name in FLAGS:
            assert isinstance(value, bool), name
        else:
            low, high, _, _ = ranges(model_type)[name]
            assert isinstance(value, int | float), name
            assert low <= value <= high, name


def test_the_defaults_given_back_are_a_copy() -> None:
    params = checked("nblr", {"C": 2.0})
    params["C"] = 5.0
    assert DEFAULTS["nblr"]["C"] == 0.3
    assert checked("nblr", {})["C"] == 0.3


# -- ranges --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_the_range_table_here_covers_every_hyperparameter(model_type: str) -> None:
    assert set(ranges(model_type)) | (FLAGS & set(DEFAULTS[model_type])) == set(
        DEFAULTS[model_type]
    )


@pytest.mark.parametrize(("model_type", "name", "bounds"), range_cases())
def test_both_ends_of_a_range_are_accepted(
    model_type: str, name: str, bounds: tuple[float, float, float, float]
) -> None:
    low, high, _, _ = bounds
    kind = type(DEFAULTS[model_type][name])
    for value in (low, high):
        params = checked(model_type, {name: value})
        assert params[name] == value
        assert type(params[name]) is kind


@pytest.mark.parametrize(("model_type", "name", "bounds"), range_cases())
def test_a_step_beyond_either_end_is_refused_naming_the_range(
    model_type: str, name: str, bounds: tuple[float, float, float, float]
) -> None:
    low, high, below, above = bounds
    for value in (below, above):
        with pytest.raises(ClassifierError) as refused:
            checked(model_type, {name: value})
        assert str(refused.value) == (
            f"hyperparameter {name} must be in [{low}, {high}], got {value}"
        )


@pytest.mark.parametrize("value", [math.nan, "nan", math.inf, "-inf", "1e999"])
def test_not_a_number_and_infinities_are_out_of_range(value: ParamValue) -> None:
    with pytest.raises(ClassifierError, match=r"^hyperparameter C must be in \[1e-06, 1000000.0\]"):
        checked("nblr", {"C": value})


@pytest.mark.parametrize("value", ["inf", "-inf", "1e999", math.inf])
def test_an_infinite_integer_is_out_of_range_not_a_non_integer(value: ParamValue) -> None:
    with pytest.raises(ClassifierError, match=r"^hyperparameter min_df must be in \[1, 1000000\]"):
        checked("nblr", {"min_df": value})


# -- conversion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [3, 3.0, "3", "3.0", " 3 ", "+3", "3e0"])
def test_an_integer_hyperparameter_takes_any_whole_number_as_an_int(value: ParamValue) -> None:
    params = checked("tfidf-lr", {"ngram_max": value})
    assert params["ngram_max"] == 3
    assert type(params["ngram_max"]) is int


@pytest.mark.parametrize("value", [2, "2", 2.0, "2e0"])
def test_a_float_hyperparameter_takes_any_number_as_a_float(value: ParamValue) -> None:
    params = checked("tfidf-lr", {"C": value})
    assert params["C"] == 2.0
    assert type(params["C"]) is float


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ngram_max", 2.5, "hyperparameter ngram_max must be an integer, got 2.5"),
        ("ngram_max", "2.5", "hyperparameter ngram_max must be an integer, got '2.5'"),
        ("ngram_max", "nan", "hyperparameter ngram_max must be an integer, got 'nan'"),
        ("ngram_max", "three", "hyperparameter ngram_max must be an integer, got 'three'"),
        ("C", "high", "hyperparameter C must be a number, got 'high'"),
        ("C", "", "hyperparameter C must be a number, got ''"),
        ("C", True, "hyperparameter C must be a number, got True"),
        ("ngram_max", False, "hyperparameter ngram_max must be a number, got False"),
        ("C", None, "hyperparameter C must be a number, got None"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_naming_it(
    name: str, value: ParamValue, message: str
) -> None:
    with pytest.raises(ClassifierError) as refused:
        checked("tfidf-lr", {name: value})
    assert str(refused.value) == message


def test_a_long_value_is_cut_short_in_the_message() -> None:
    at_most = "x" * 38  # its repr is 40 characters: shown whole
    with pytest.raises(ClassifierError) as refused:
        checked("nblr", {"C": at_most})
    assert str(refused.value) == f"hyperparameter C must be a number, got '{at_most}'"

    longer = "x" * 39  # 41 characters: the first 30, and the length
    with pytest.raises(ClassifierError) as refused:
        checked("nblr", {"C": longer})
    assert str(refused.value) == (
        f"hyperparameter C must be a number, got '{'x' * 29}... (41 characters)"
    )


def test_a_huge_value_out_of_range_is_shown_cut_short() -> None:
    with pytest.raises(ClassifierError) as refused:
        checked("nblr", {"max_iter": 10**50})
    assert str(refused.value) == (
        f"hyperparameter max_iter must be in [1, 1000000], got 1{'0' * 29}... (51 characters)"
    )


def test_an_int_of_more_digits_than_python_prints_is_refused_without_showing_it() -> None:
    with pytest.raises(ClassifierError) as refused:
        checked("nblr", {"min_df": 10**5000})
    assert str(refused.value) == (
        "hyperparameter min_df must be in [1, 1000000], got a number too long to show"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), (" TRUE ", True), ("False", False)],
)
def test_a_flag_takes_a_bool_or_true_and_false_in_any_case(
    value: ParamValue, expected: bool
) -> None:
    params = checked("nblr", {"calibrate": value, "mask_names": value})
    assert params["calibrate"] is expected
    assert params["mask_names"] is expected


@pytest.mark.parametrize("value", ["yes", "1", 1, 0, None])
def test_a_flag_refuses_anything_else_naming_it(value: ParamValue) -> None:
    with pytest.raises(ClassifierError) as refused:
        checked("nblr-lm", {"mask_names": value})
    assert str(refused.value) == f"hyperparameter mask_names must be true or false, got {value!r}"


# -- names ---------------------------------------------------------------------------------------


def test_an_unknown_model_type_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ClassifierError) as refused:
        checked("bert", {})
    assert str(refused.value) == (
        "unknown model type 'bert'; known: nblr, nblr-ctx, nblr-lm, tfidf-lr"
    )


def test_unknown_hyperparameters_are_refused_all_named_with_the_known_ones() -> None:
    with pytest.raises(ClassifierError) as refused:
        checked("tfidf-lr", {"nb_alpha": 1.0, "gamma": 2, "C": 1.0})
    assert str(refused.value) == (
        "unknown hyperparameter(s) for tfidf-lr: gamma, nb_alpha; "
        "known: C, mask_names, max_iter, n_features_log2, ngram_max"
    )


def test_a_hyperparameter_of_another_type_is_unknown_to_this_one() -> None:
    assert "calibrate" in DEFAULTS["nblr"]
    with pytest.raises(ClassifierError, match="unknown hyperparameter"):
        checked("nblr-lm", {"calibrate": True})


# -- the command line's NAME=VALUE pairs --------------------------------------------------------


def test_pairs_are_typed_int_float_bool_or_string() -> None:
    parsed = parse_hyperparameters(
        ["a=3", "b=-4", "c=+5", "d=2.5", "e=1e3", "f=TRUE", "g=false", "h=word", "i="]
    )
    assert parsed == {
        "a": 3,
        "b": -4,
        "c": 5,
        "d": 2.5,
        "e": 1000.0,
        "f": True,
        "g": False,
        "h": "word",
        "i": "",
    }
    assert [type(parsed[k]) for k in "abcde"] == [int, int, int, float, float]


def test_names_and_values_are_stripped_and_a_value_may_hold_an_equals_sign() -> None:
    assert parse_hyperparameters([" C = 2 ", "name=a=b"]) == {"C": 2, "name": "a=b"}


def test_a_name_given_twice_takes_the_last_value() -> None:
    assert parse_hyperparameters(["C=1", "C=2"]) == {"C": 2}


def test_an_integer_beyond_pythons_digit_limit_is_an_infinite_float() -> None:
    # int() refuses more than 4300 digits; float() takes it: out of every range, not a crash.
    [value] = parse_hyperparameters([f"max_iter=1{'0' * 5000}"]).values()
    assert value == math.inf
    assert parse_hyperparameters([f"max_iter=1{'0' * 400}"])["max_iter"] == 10**400


@pytest.mark.parametrize("pair", ["C", "", "=3", "  =x", " "])
def test_a_pair_without_a_name_is_refused_showing_it(pair: str) -> None:
    with pytest.raises(ClassifierError) as refused:
        parse_hyperparameters(["C=1", pair])
    assert str(refused.value) == f"hyperparameter {pair!r} is not NAME=VALUE"


def test_no_pairs_is_nothing() -> None:
    assert parse_hyperparameters([]) == {}
