"""Exponential backoff with jitter, bounded: how long to wait before the next retry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay after the n-th consecutive failure: `initial_s * multiplier ** (n - 1)`, capped.

    `jitter` spreads each delay by up to that fraction either way, so that many processes
    restarted together do not retry in lockstep; the result never exceeds `max_s`.
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.initial_s <= self.max_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {self.initial_s}, {self.max_s}")
        if self.multiplier < 1.0:
            raise ValueError(f"multiplier must be at least 1, got {self.multiplier}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    def delay(self, failures: int, rand: float = 0.5) -> float:
        """Seconds to wait after `failures` consecutive failures (>= 1); `rand` is in [0, 1)."""
        exponent = max(failures, 1) - 1
        try:
            base = min(self.max_s, self.initial_s * self.multiplier**exponent)
        except OverflowError:
            base = self.max_s
        spread = 1.0 + self.jitter * (2.0 * min(max(rand, 0.0), 1.0) - 1.0)
        return min(self.max_s, base * spread)
