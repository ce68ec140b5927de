"""Fixtures of the reliability suite: fault proxies, SDK sleep recorders, provider rigs, log capture.

Cloud tests run on every provider whose SDK (and emulator plugin) is installed, like the contract suite:
``CLOUD_RIGS`` of the root conftest decides, and ``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1`` makes a missing
one an error there.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.logs import LOGGER_NAME, JsonFormatter
from tests.conftest import CLOUD_RIGS
from tests.reliability.faultproxy import FaultProxy

#: Contract-suite rig name -> provider folder name.
PROVIDER_OF_RIG = {"s3": "aws", "gcs": "gcp", "azure": "azure"}
#: The providers whose SDK and emulator this run has.
PROVIDERS = [PROVIDER_OF_RIG[rig] for rig in CLOUD_RIGS]

#: An SDK sleep compressed to at most this (AWS and Azure count attempts; see ``sdk_sleeps``).
COMPRESSED_SLEEP = 0.005


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


class _TimeShim:
    """Stands in for the ``time`` module inside one SDK module: records sleeps, compresses them.

    ``monotonic`` runs ahead by the time skipped, so a retry *deadline* (GCS) still sees the full
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
    """The back-off sleeps each SDK asked for during the test, in order."""

    aws: list[float] = field(default_factory=list)
    gcp: list[float] = field(default_factory=list)
    azure: list[float] = field(default_factory=list)

    def of(self, provider: str) -> list[float]:
        return list(getattr(self, provider))

    def clear(self) -> None:
        for provider in ("aws", "gcp", "azure"):
            getattr(self, provider).clear()


@pytest.fixture
def sdk_sleeps(monkeypatch: pytest.MonkeyPatch) -> SdkSleeps:
    """Record (and compress) the SDKs' retry sleeps, so fault tests are fast and can check the back-off.

    The production retry configuration is untouched: botocore and azure-storage count attempts, so a
    shorter sleep changes nothing but the wall clock; google-api-core stops on a deadline, which the
    shim's clock keeps honest (see :class:`_TimeShim`).
    """
    sleeps = SdkSleeps()
    if "aws" in PROVIDERS:
        import botocore.endpoint

        monkeypatch.setattr(botocore.endpoint, "time", _TimeShim(sleeps.aws, compress=True))
    if "gcp" in PROVIDERS:
        from google.api_core.retry import retry_base, retry_unary

        shim = _TimeShim(sleeps.gcp, compress=True)
        monkeypatch.setattr(retry_unary, "time", shim)
        monkeypatch.setattr(retry_base, "time", shim)
    if "azure" in PROVIDERS:
        from azure.core.pipeline.transport import HttpTransport, RequestsTransport

        shim = _TimeShim(sleeps.azure, compress=True)
        # The storage pipeline sleeps through a TransportWrapper, which inherits HttpTransport.sleep.
        for transport in (HttpTransport, RequestsTransport):
            monkeypatch.setattr(transport, "sleep", lambda self, seconds: shim.sleep(seconds))
    return sleeps


class JsonLines:
    """polythumb's log records during a test, rendered exactly as the JSON lines a platform would get."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(JsonFormatter())
        self.handler.setLevel(logging.DEBUG)

    def text(self) -> str:
        """The raw captured text (what a secret scan must look at)."""
        return self.buffer.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]

    def errors_for(self, key: str) -> list[dict[str, Any]]:
        """ERROR records about ``key``."""
        return [r for r in self.lines() if r.get("severity") == "ERROR" and r.get("key") == key]

    def clear(self) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    """polythumb's JSON log lines (its logger does not propagate, so caplog cannot see them)."""
    capture = JsonLines()
    logger = logging.getLogger(LOGGER_NAME)
    previous = logger.level
    logger.addHandler(capture.handler)
    try:
        yield capture
    finally:
        logger.removeHandler(capture.handler)
        logger.setLevel(previous)


@pytest.fixture(params=PROVIDERS)
def rig(request: pytest.FixtureRequest) -> Any:
    """A fresh source and destination on one provider, its entrypoint wired through a fault proxy."""
    from tests.reliability import rigs

    return rigs.build(request.param, request)
