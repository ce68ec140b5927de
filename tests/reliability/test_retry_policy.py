"""The SDKs' own retries, as configured by the adapters: bounded, backed off, jittered.

Each test points the function's production storage client at a fault proxy that fails every read of
one object, calls the port several times, and checks what the proxy saw (attempts per call) and what the
SDK asked to sleep between attempts (see ``sdk_sleeps`` in conftest: recorded, compressed in wall-clock
time only). The schedules asserted here are the ones the adapters document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from core.errors import StorageUnavailable
from tests.images import jpeg_bytes
from tests.reliability.conftest import PROVIDERS, SdkSleeps
from tests.reliability.faultproxy import Fault, Rule, http_error
from tests.reliability.rigs import Rig

#: Calls per test: enough samples to see jitter at each retry.
CALLS = 4

FAULTS: dict[str, Callable[[Rig], Rule]] = {
    "throttle": lambda rig: rig.throttle(),
    "http_500": lambda rig: http_error(500),
    "reset": lambda rig: Rule(Fault.RESET),
    "hold_drop": lambda rig: Rule(Fault.HOLD_DROP, hold=0.05),
}


@dataclass(frozen=True)
class Schedule:
    """What one adapter documents: attempts per call and the back-off window of each retry."""

    attempts: tuple[int, int]  # inclusive bounds
    window: Callable[[int, str], tuple[float, float]]  # (retry number from 1, fault) -> (low, high) seconds
    total_sleep: float  # the most one call may sleep in all


def _aws_window(retry: int, fault: str) -> tuple[float, float]:
    # botocore standard mode: rand(0, 1) * min(base * 2**(retry - 1), 20); base 1 s for throttling
    # errors (SlowDown), 50 ms otherwise.
    base = 1.0 if fault == "throttle" else 0.05
    return 0.0, min(base * 2 ** (retry - 1), 20.0)


def _gcp_window(retry: int, fault: str) -> tuple[float, float]:
    # google-api-core: uniform(0, min(initial * multiplier**(retry - 1), maximum)), initial 1 s, x2, max 60 s.
    return 0.0, min(1.0 * 2 ** (retry - 1), 60.0)


def _azure_window(retry: int, fault: str) -> tuple[float, float]:
    # azure-storage ExponentialRetry: initial_backoff + increment_base**retry, +/- random_jitter_range.
    centre = 1 + 2**retry
    return centre - 1.0, centre + 1.0


SCHEDULES = {
    "aws": Schedule(attempts=(3, 3), window=_aws_window, total_sleep=3.0),
    # Bounded by a 30 s deadline rather than a count (the virtual clock of sdk_sleeps keeps it honest).
    "gcp": Schedule(attempts=(3, 30), window=_gcp_window, total_sleep=30.0),
    "azure": Schedule(attempts=(4, 4), window=_azure_window, total_sleep=20.0),
}


def test_the_adapters_configure_what_the_schedules_assume() -> None:
    """The configuration objects themselves, so a changed setting fails here and not only in timing."""
    if "aws" in PROVIDERS:
        from providers.aws.storage import client_config

        config = client_config()
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert (config.connect_timeout, config.read_timeout) == (3.0, 10.0)
    if "gcp" in PROVIDERS:
        from providers.gcp.storage import RETRY_DEADLINE, retry_policies

        always, conditional = retry_policies()
        assert always.timeout == RETRY_DEADLINE == 30.0
        assert (always._initial, always._multiplier, always._maximum) == (1.0, 2.0, 60.0)
        assert conditional.retry_policy is always  # uploads use the same bounded policy, when conditional
    if "azure" in PROVIDERS:
        from providers.azure.connection import retry_policy

        policy = retry_policy()
        assert (policy.initial_backoff, policy.increment_base, policy.random_jitter_range) == (1, 2, 1)
        assert policy.total_retries == 3
        assert not policy.retry_to_secondary


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_persistent_fault_is_retried_a_bounded_number_of_times_with_jittered_backoff(
    rig: Rig, sdk_sleeps: SdkSleeps, fault: str
) -> None:
    key = "retry/probe.jpg"
    rig.upload(key, jpeg_bytes(64, 48))
    method, path = rig.source_read()
    rig.proxy.add(FAULTS[fault](rig), method=method, path=path, times=None)
    store = rig.runtime().thumbnailer.store(rig.source)  # the function's own client, through the proxy
    schedule = SCHEDULES[rig.provider]

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
