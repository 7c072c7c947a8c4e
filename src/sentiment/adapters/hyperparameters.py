"""The hyperparameters of each model type of SklearnClassifier: their defaults, the range each
given value must be in (checked and converted by `checked`), and `NAME=VALUE` pairs from the
command line as values (`parse_hyperparameters`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

from sentiment.domain.errors import ClassifierError
from sentiment.domain.model import ParamValue

DEFAULTS: dict[str, dict[str, ParamValue]] = {
    "nblr": {
        "ngram_max": 3,
        "n_features_log2": 30,
        "C": 0.3,
        "nb_alpha": 1.0,
        "beta": 0.25,
        "min_df": 3,
        "calibrate": True,
        "max_iter": 1000,
        "mask_names": True,
    },
    "nblr-ctx": {
        "ngram_max": 3,
        "n_features_log2": 21,
        "C": 0.3,
        "nb_alpha": 1.0,
        "beta": 0.25,
        "min_df": 3,
        "max_iter": 1000,
        "negation_window": 3,
        "inner_folds": 3,
        "stack_C": 1.0,
        "mask_names": True,
    },
    "nblr-lm": {
        "ngram_max": 3,
        "n_features_log2": 30,
        "C": 0.3,
        "nb_alpha": 1.0,
        "beta": 0.25,
        "min_df": 3,
        "max_iter": 1000,
        "lm_order": 3,
        "lm_min_count": 2,
        "lm_discount": 0.75,
        "inner_folds": 3,
        "stack_C": 1.0,
        "mask_names": True,
    },
    "tfidf-lr": {
        "ngram_max": 2,
        "n_features_log2": 20,
        "C": 10.0,
        "max_iter": 1000,
        "mask_names": True,
    },
}
DEFAULT_MODEL_TYPE = "nblr-lm"

# Allowed range of every hyperparameter: (type, lowest, highest); bounds are inclusive.
_BOUNDS: dict[str, tuple[type, float, float]] = {
    "ngram_max": (int, 1, 5),
    "n_features_log2": (int, 1, 26),  # tiny spaces make deliberately weak models (tests)
    "C": (float, 1e-6, 1e6),
    "nb_alpha": (float, 1e-6, 1e3),
    "beta": (float, 0.0, 1.0),
    "min_df": (int, 1, 1_000_000),
    "max_iter": (int, 1, 1_000_000),
    "calibrate": (bool, 0, 1),
    "negation_window": (int, 1, 50),
    "inner_folds": (int, 2, 10),
    "stack_C": (float, 1e-6, 1e6),
    "lm_order": (int, 1, 5),
    "lm_min_count": (int, 1, 1_000_000),
    "lm_discount": (float, 0.01, 0.99),
    "mask_names": (bool, 0, 1),
}
# nblr stores only the columns it saw (HashedVocabulary): its space can be as large as hashing
# allows. The others store a dense coefficient per column.
_TYPE_BOUNDS: dict[str, dict[str, tuple[type, float, float]]] = {
    "nblr": {"n_features_log2": (int, 1, 30)},
    "nblr-lm": {"n_features_log2": (int, 1, 30)},
}


def checked(model_type: str, given: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """The model type's defaults overridden by `given`, each value checked and converted."""
    if model_type not in DEFAULTS:
        raise ClassifierError(
            f"unknown model type {model_type!r}; known: {', '.join(sorted(DEFAULTS))}"
        )
    known = DEFAULTS[model_type]
    unknown = set(given) - set(known)
    if unknown:
        raise ClassifierError(
            f"unknown hyperparameter(s) for {model_type}: {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    params = dict(known)
    for name, value in given.items():
        kind, low, high = _TYPE_BOUNDS.get(model_type, {}).get(name, _BOUNDS[name])
        if kind is bool:
            params[name] = _as_bool(name, value)
            continue
        number: float | int
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ClassifierError(f"hyperparameter {name} must be a number, got {value!r}")
        try:
            number = float(value) if kind is float else _as_int(value)
        except OverflowError:  # infinite, or an int too large for a float: out of any range
            number = math.inf
        except ValueError:
            raise ClassifierError(
                f"hyperparameter {name} must be {'a number' if kind is float else 'an integer'}, "
                f"got {_shown(value)}"
            ) from None
        if not low <= number <= high:
            raise ClassifierError(
                f"hyperparameter {name} must be in [{low}, {high}], got {_shown(value, str)}"
            )
        params[name] = number
    return params


def _as_bool(name: str, value: ParamValue) -> bool:
    """A bool, or the strings "true"/"false" in any case (config and JSON settings give strings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ClassifierError(f"hyperparameter {name} must be true or false, got {value!r}")


def _shown(value: object, form: Callable[[object], str] = repr) -> str:
    """`value` for an error message, cut short: a value may have thousands of digits."""
    try:
        text = form(value)
    except ValueError:  # an int of more digits than Python converts to a string
        return "a number too long to show"
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def _as_int(value: int | float | str) -> int:
    if isinstance(value, int):  # as it is: a float would overflow (or round) a large one
        return value
    number = float(value)
    if math.isinf(number):
        raise OverflowError(value)  # out of range, rather than not an integer
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def parse_hyperparameters(pairs: Sequence[str]) -> dict[str, ParamValue]:
    """`["C=2", "ngram_max=3"]` -> `{"C": 2, "ngram_max": 3}` (ints, floats, bools, strings)."""
    parsed: dict[str, ParamValue] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ClassifierError(f"hyperparameter {pair!r} is not NAME=VALUE")
        parsed[key.strip()] = _coerce(raw.strip())
    return parsed


def _coerce(raw: str) -> ParamValue:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if re.fullmatch(r"[+-]?\d+", raw):
        try:
            return int(raw)
        except ValueError:  # more digits than Python converts: far beyond any bound
            return float(raw)
    try:
        return float(raw)
    except ValueError:
        return raw
