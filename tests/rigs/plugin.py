"""Fixtures every rig may need, whichever suite uses it (loaded by the root conftest): fault proxies, and the
recorder of the SDKs' retry sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests import rigs
from tests.reliability.faultproxy import FaultProxy


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """Factory of fault proxies to an upstream URL, all closed at the end of the test."""
    proxies: list[FaultProxy] = []

    def make(upstream: str) -> FaultProxy:
        proxy = FaultProxy(upstream)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


#: An SDK sleep compressed to at most this (see ``sdk_sleeps``).
COMPRESSED_SLEEP = 0.005


class _TimeShim:
    """Stands in for the ``time`` module inside one SDK module: records sleeps, compresses them.

    ``monotonic`` runs ahead by the time skipped, so a retry *deadline* still sees the full
    back-off it asked for and stops after as many attempts as it would in production.

    Both are per thread. A retry loop computes its deadline and sleeps in one thread, so it must see
    only its own skipped time: with one shared clock, another thread's back-off (a thread of this test,
    or one a previous test left behind still retrying) moved every deadline forward, and a single
    dropped GCS download ended in ``RetryError`` within a second. Sleeps of threads that were already
    running when the test started belong to another test: they run at real speed and are not recorded.
    """

    def __init__(self, record: list[float], *, compress: bool) -> None:
        self._record = record
        self._compress = compress
        self._foreign = {thread.ident for thread in threading.enumerate()} - {threading.get_ident()}
        self._skipped: dict[int, float] = {}
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        me = threading.get_ident()
        if me in self._foreign:
            time.sleep(seconds)
            return
        actual = min(seconds, COMPRESSED_SLEEP) if self._compress else seconds
        with self._lock:
            self._record.append(float(seconds))
            self._skipped[me] = self._skipped.get(me, 0.0) + seconds - actual
        time.sleep(actual)

    def monotonic(self) -> float:
        return time.monotonic() + self._skipped.get(threading.get_ident(), 0.0)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@dataclass
class SdkSleeps:
    """The back-off sleeps each SDK asked for during the test, in order, by provider."""

    sleeps: dict[str, list[float]] = field(default_factory=lambda: {module.NAME: [] for module in rigs.cloud_rigs()})

    def of(self, provider: str) -> list[float]:
        return list(self.sleeps[provider])

    def clear(self) -> None:
        for recorded in self.sleeps.values():
            recorded.clear()


@pytest.fixture
def sdk_sleeps(monkeypatch: pytest.MonkeyPatch) -> SdkSleeps:
    """Record (and compress) the SDKs' retry sleeps, so fault tests are fast and can check the back-off.

    The production retry configuration is untouched: SDKs that count attempts change nothing but the wall
    clock with a shorter sleep; one that stops on a deadline sees the shim's clock, which keeps it honest
    (see :class:`_TimeShim`). Each rig knows where its SDK sleeps (``patch_sdk_sleeps``).
    """
    sleeps = SdkSleeps()
    for module in rigs.cloud_rigs():
        module.patch_sdk_sleeps(monkeypatch, _TimeShim(sleeps.sleeps[module.NAME], compress=True))
    return sleeps
