"""Backoff: grows exponentially, never beyond its bound, with bounded jitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentiment.application.backoff import Backoff

backoffs = st.builds(
    lambda initial, factor, multiplier, jitter: Backoff(
        initial, initial * factor, multiplier, jitter
    ),
    st.floats(0.001, 10.0),
    st.floats(1.0, 1000.0),
    st.floats(1.0, 10.0),
    st.floats(0.0, 0.99),
)


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@given(backoffs, st.integers(1, 10**6), st.floats(0.0, 1.0))
def test_every_delay_is_positive_and_bounded(backoff: Backoff, failures: int, rand: float) -> None:
    delay = backoff.delay(failures, rand)
    assert 0.0 < delay <= backoff.max_s
    assert delay >= backoff.initial_s * (1.0 - backoff.jitter) * 0.999999


@given(backoffs, st.integers(1, 200))
def test_without_jitter_delays_never_shrink(backoff: Backoff, failures: int) -> None:
    assert backoff.delay(failures + 1, 0.5) >= backoff.delay(failures, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_s": 0.0}, "initial_s"),
        ({"initial_s": 5.0, "max_s": 1.0}, "initial_s <= max_s"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": 1.0}, "jitter"),
    ],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)


def test_jitter_spreads_a_delay_evenly_either_way() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0, multiplier=2.0, jitter=0.1)
    assert backoff.delay(2) == 2.0  # rand defaults to the middle: no jitter
    assert backoff.delay(2, 0.0) == pytest.approx(1.8)
    assert backoff.delay(2, 0.5) == pytest.approx(2.0)
    assert backoff.delay(2, 1.0) == pytest.approx(2.2)
    # rand outside [0, 1] is clamped
    assert backoff.delay(2, -3.0) == pytest.approx(1.8)
    assert backoff.delay(2, 7.0) == pytest.approx(2.2)


@given(backoffs, st.integers(1, 50), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_a_larger_rand_never_gives_a_shorter_delay(
    backoff: Backoff, failures: int, rand: float, other: float
) -> None:
    low, high = sorted((rand, other))
    assert backoff.delay(failures, low) <= backoff.delay(failures, high)
