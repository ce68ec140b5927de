"""Create a thing once per process, thread-safely: how a function container keeps one client."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    """Calls ``factory()`` on first use only; every later call returns that same object.

    Serverless containers serve many warm invocations: SDK clients, configuration and handlers built
    this way are created during the first (cold) call and reused after it. Two threads racing on the
    first call still build one object (double-checked under a lock).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._made: list[T] = []  # empty until built; a list so None is a valid product
        functools.update_wrapper(self, factory)

    def __call__(self) -> T:
        if not self._made:
            with self._lock:
                if not self._made:
                    self._made.append(self._factory())
        return self._made[0]


def once(factory: Callable[[], T]) -> Once[T]:
    """Decorator form of :class:`Once`."""
    return Once(factory)


def given_or_once(given: T | None, factory: Callable[[], T]) -> Once[T]:
    """A :class:`Once` of ``given`` when a caller supplies the object (a test's client), else of ``factory``."""
    if given is None:
        return Once(factory)
    supplied = given
    return Once(lambda: supplied)
