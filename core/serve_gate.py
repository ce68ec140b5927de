"""The serve function's own concurrency cap, and one render per source at a time in one container.

A page that shows three sizes of a new upload sends three requests at once, all misses for one source:
the first starts the render (one download, one decode, every output), the others wait for it and answer
from its outcome. Across containers (and against the upload event) the conditional, create-only puts
settle who writes each output; this only saves the work. Renders are capped per container
(``THUMBS_SERVE_CONCURRENCY``): a request that would start one more is told to come back (``503`` with
``Retry-After``) rather than queued, so a burst of misses cannot pile up decodes in one function's memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds a request waits for another request's render of the same source before it gives up (503).
FOLLOW_TIMEOUT = 60.0


class Busy(Exception):
    """Every render slot of this container is taken (or the render waited for did not finish in time)."""


@dataclass
class _Flight(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class Gate(Generic[T]):
    """Runs renders: at most ``limit`` at once, one per key; a second request for a key shares the first's.

    Args:
        limit: Renders at once (THUMBS_SERVE_CONCURRENCY).
        follow_timeout: Seconds a request waits for the render of its key another request started.
    """

    def __init__(self, limit: int, *, follow_timeout: float = FOLLOW_TIMEOUT) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self._flights: dict[Hashable, _Flight[T]] = {}
        self._lock = threading.Lock()
        self._follow_timeout = follow_timeout

    def run(self, key: Hashable, work: Callable[[], T]) -> tuple[T, bool]:
        """``work()``'s result, and whether this call ran it (False: it shared another call's for ``key``).

        Raises:
            Busy: no render slot is free, or the shared render did not end within the follow timeout.
            BaseException: what the shared ``work`` raised.
        """
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                if not self._slots.acquire(blocking=False):
                    raise Busy
                flight = self._flights[key] = _Flight()
        if not leader:
            if not flight.done.wait(self._follow_timeout):
                raise Busy
            if flight.error is not None:
                raise flight.error
            return flight.result, False  # type: ignore[return-value]  # set whenever error is not
        try:
            flight.result = work()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            self._slots.release()
            flight.done.set()
        return flight.result, True
