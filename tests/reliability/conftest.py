"""Fixtures of the reliability suite: provider rigs, log capture.

Cloud tests run on every provider rig in use (see :mod:`tests.rigs`; ``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1``
makes a missing one an error there); the fault proxies and the SDK sleep recorder (``sdk_sleeps``) come
from :mod:`tests.rigs.plugin`.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from core.logs import LOGGER_NAME, JsonFormatter
from tests import rigs
from tests.rigs.base import FaultRig

#: The providers whose SDK and emulator this run has.
PROVIDERS = [module.NAME for module in rigs.cloud_rigs()]

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
def rig(request: pytest.FixtureRequest) -> FaultRig:
    """A fresh source and destination on one provider, its entrypoint wired through a fault proxy."""
    module = rigs.by_name(request.param)
    proxy = request.getfixturevalue("fault_proxy")(module.upstream(request))
    result: FaultRig = module.faulty(request, proxy)
    return result
