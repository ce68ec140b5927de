"""A token bucket on an injectable clock, so rate limits are tested without waiting."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time and sleeping: :class:`SystemClock` in production, a fake one in tests."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class TokenBucket:
    """At most ``rate`` items per second on average, in bursts of at most ``burst`` items.

    The bucket starts full. :meth:`acquire` blocks (on the clock) until enough
    tokens have accrued, so over any interval of ``t`` seconds no more than
    ``burst + rate * t`` items pass.

    Args:
        rate: Items per second; None or 0 means unlimited.
        burst: Bucket size (at least 1; the dispatcher uses its batch size).
        clock: Time source.
    """

    def __init__(self, rate: float | None, *, burst: int, clock: Clock) -> None:
        if rate is not None and rate < 0:
            raise ValueError("rate must not be negative")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate or None
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock.monotonic()

    def acquire(self, items: int) -> float:
        """Take ``items`` tokens (at most ``burst`` at a time), waiting as needed; returns seconds waited."""
        if self.rate is None:
            return 0.0
        if not 1 <= items <= self.burst:
            raise ValueError(f"can take 1..{self.burst} tokens at once, not {items}")
        waited = 0.0
        while True:
            now = self._clock.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= items:
                self._tokens -= items
                return waited
            delay = (items - self._tokens) / self.rate
            self._clock.sleep(delay)
            waited += delay
