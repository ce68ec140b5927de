"""The SDKs' own retries, as configured by the adapters: bounded, backed off, jittered.

Each test points the function's production storage client at a fault proxy that fails every read of
one object, calls the port several times, and checks what the proxy saw (attempts per call) and what the
SDK asked to sleep between attempts (see ``sdk_sleeps`` in conftest: recorded, compressed in wall-clock
time only). The schedules asserted here are the ones the adapters document: each rig's ``RETRY``; each
provider's tests check that its adapter configures what that schedule assumes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import StorageUnavailable
from tests import rigs
from tests.images import jpeg_bytes
from tests.reliability.faultproxy import Fault, Rule, http_error
from tests.rigs.base import FaultRig
from tests.rigs.plugin import SdkSleeps

#: Calls per test: enough samples to see jitter at each retry.
CALLS = 4

FAULTS: dict[str, Callable[[FaultRig], Rule]] = {
    "throttle": lambda rig: rig.throttle(),
    "http_500": lambda rig: http_error(500),
    "reset": lambda rig: Rule(Fault.RESET),
    "hold_drop": lambda rig: Rule(Fault.HOLD_DROP, hold=0.05),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_persistent_fault_is_retried_a_bounded_number_of_times_with_jittered_backoff(
    rig: FaultRig, sdk_sleeps: SdkSleeps, fault: str
) -> None:
    key = "retry/probe.jpg"
    rig.upload(key, jpeg_bytes(64, 48))
    method, path = rig.source_read()
    rig.proxy.add(FAULTS[fault](rig), method=method, path=path, times=None)
    store = rig.runtime().thumbnailer.store(rig.source)  # the function's own client, through the proxy
    schedule = rigs.by_name(rig.provider).RETRY

    attempts: list[int] = []
    sleeps: list[list[float]] = []
    for _ in range(CALLS):
        rig.proxy.reset_record()
        sdk_sleeps.clear()
        with pytest.raises(StorageUnavailable):
            store.get(key)
        attempts.append(len(rig.proxy.seen(method, path)))
        sleeps.append(sdk_sleeps.of(rig.provider))

    low, high = schedule.attempts
    assert all(low <= n <= high for n in attempts), f"attempts per call {attempts}, expected {low}..{high}"
    for n, delays in zip(attempts, sleeps, strict=True):
        assert len(delays) == n - 1, f"one back-off before each retry: {delays} for {n} attempts"
        assert sum(delays) <= schedule.total_sleep
        for retry, delay in enumerate(delays, start=1):
            lo, hi = schedule.window(retry, fault)
            assert lo <= delay <= hi, f"retry {retry} slept {delay:.3f}s, outside [{lo}, {hi}]"
    first = [round(delays[0], 9) for delays in sleeps]
    assert len(set(first)) > 1, f"no jitter: every first back-off was {first[0]}"
