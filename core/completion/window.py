"""The time one delivery has for publishing completion events, shared by every event it carries.

A publish gets :data:`PUBLISH_BUDGET` seconds, cut to what the invocation has left
(Lambda's ``get_remaining_time_in_millis()``, or the configured function timeout where the platform
only exposes that) less a reserve for answering the platform. Once one publish ran out of time, the
delivery's later events are not published at all: each is reported retryable at once, so a hanging
target costs one wait per delivery, not one per event, and an SQS batch ends before its timeout (which
would redeliver the whole batch) with only the unannounced messages marked for retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.errors import NotifyTimeout

PUBLISH_BUDGET = 10.0  # seconds one publish may take, every attempt and back-off included
#: Seconds kept back from the invocation's end: logging and answering the platform after the last publish.
RESERVE = 1.0


class PublishWindow:
    """The publishing deadlines of one delivery (an invocation, an SQS batch).

    Args:
        remaining: Seconds the invocation has left now (None: unknown, each publish gets the full budget).
        budget: Seconds one publish may take.
        clock: ``time.monotonic`` (tests inject their own).
    """

    def __init__(
        self,
        *,
        remaining: float | None = None,
        budget: float = PUBLISH_BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._budget = budget
        self._ends = None if remaining is None else clock() + remaining - RESERVE
        self._stalled: str | None = None

    def deadline(self) -> float:
        """When the next publish must be over (``time.monotonic()`` seconds).

        Raises:
            NotifyTimeout: a publish of this delivery already ran out of time, or the invocation has none left.
        """
        if self._stalled is not None:
            raise NotifyTimeout(
                f"not published: {self._stalled} ran out of time earlier in this delivery; the platform will retry"
            )
        now = self._clock()
        if self._ends is not None and now >= self._ends:
            self._stalled = "the invocation"
            raise NotifyTimeout("not published: the invocation has no time left; the platform will retry")
        end = now + self._budget
        return end if self._ends is None else min(end, self._ends)

    def ran_out(self, what: str) -> None:
        """Record that publishing to ``what`` ran out of time: the rest of the delivery publishes nothing."""
        if self._stalled is None:
            self._stalled = what
