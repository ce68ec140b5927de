"""Storage faults between the function and the real emulators, on every provider.

The promise, checked after every scenario by reading the whole destination back: the SDK rides out
a blip with its own bounded retries; a longer fault becomes a transient error the platform retries (where
it batches, the partial batch response names only the affected message); no thumbnail is ever truncated or
missing its metadata; a later delivery completes the work.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import StorageUnavailable, TransientError
from tests.images import jpeg_bytes
from tests.log_capture import JsonLogs
from tests.reliability.faultproxy import Fault, Rule, http_error
from tests.rigs.base import Attempt, FaultRig, is_transient
from tests.rigs.plugin import SdkSleeps

SOURCE = jpeg_bytes(320, 240)
#: Thumbnails per source (tests.rigs.base.SIZES).
OUTPUTS = 2

BLIPS: dict[str, Callable[[FaultRig], Rule]] = {
    "reset": lambda rig: Rule(Fault.RESET),
    "hold_drop": lambda rig: Rule(Fault.HOLD_DROP, hold=0.2),
    "http_500": lambda rig: http_error(500),
    "http_503": lambda rig: http_error(503),
    "throttle": lambda rig: rig.throttle(),
}


#: Each fault once per provider in the default run (on the request it is likeliest to hit); the rest of
#: the fault x request matrix is marked slow.
DEFAULT_TARGET = {"reset": "dest_write", "hold_drop": "source_read", "http_500": "dest_write",
                  "http_503": "source_read", "throttle": "source_read"}  # fmt: skip
MATRIX = [
    pytest.param(fault, target, marks=() if DEFAULT_TARGET[fault] == target else pytest.mark.slow)
    for fault in sorted(BLIPS)
    for target in ("source_read", "dest_write")
]


def _once(rig: FaultRig, key: str, rule: Rule, target: str) -> tuple[Attempt, tuple[str, str]]:
    """Upload ``key`` and deliver its notification with ``rule`` firing on the first ``target`` request: the
    attempt, and the request pattern the rule watched (it fired once)."""
    notification = rig.upload(key, SOURCE)
    method, path = getattr(rig, target)()
    added = rig.proxy.add(rule, method=method, path=path, times=1)
    delivery = rig.deliver(notification)
    assert added.fired == 1
    return delivery, (method, path)


@pytest.mark.parametrize(("fault", "target"), MATRIX)
def test_a_blip_is_absorbed_by_the_sdk_retry(rig: FaultRig, sdk_sleeps: SdkSleeps, fault: str, target: str) -> None:
    key = f"blip/{fault}.jpg"
    delivery, (method, path) = _once(rig, key, BLIPS[fault](rig), target)

    assert not delivery.retry, f"one blip should not cost a platform retry: {delivery.error!r}"
    requests = rig.proxy.seen(method, path)
    expected = 2 if target == "source_read" else OUTPUTS + 1  # the faulted request once more, nothing else
    assert len(requests) == expected, [(e.method, e.fault, e.status) for e in requests]
    assert len(sdk_sleeps.of(rig.provider)) == 1, "the SDK backs off once before its retry"
    rig.assert_complete(key)


def test_an_upload_cut_mid_body_never_leaves_a_truncated_thumbnail(rig: FaultRig, sdk_sleeps: SdkSleeps) -> None:
    key = "cut/photo.jpg"
    delivery, _ = _once(rig, key, Rule(Fault.CUT_UPLOAD), "dest_write")

    assert not delivery.retry, delivery.error
    rig.assert_complete(key)  # every byte of every thumbnail, and its metadata


def test_a_lost_answer_to_a_write_converges_without_rewriting(rig: FaultRig, sdk_sleeps: SdkSleeps) -> None:
    """The write reached the store but its answer was lost: the SDK retries a create-only write that now fails."""
    key = "lost/photo.jpg"
    delivery, (method, path) = _once(rig, key, Rule(Fault.LOST_RESPONSE), "dest_write")

    assert not delivery.retry, f"a lost answer to our own write must not cost a platform retry: {delivery.error!r}"
    rig.assert_complete(key)
    writes = rig.proxy.seen(method, path)
    succeeded = [e for e in writes if e.status is not None and 200 <= e.status < 300]
    assert len(succeeded) == OUTPUTS, "each thumbnail was stored exactly once"


def test_a_persistent_read_outage_fails_only_its_event_and_a_later_delivery_completes(
    rig: FaultRig, sdk_sleeps: SdkSleeps
) -> None:
    healthy, broken = "ok/fine.jpg", "down/later.jpg"
    good = rig.upload(healthy, SOURCE)
    bad = rig.upload(broken, SOURCE)
    method, path = rig.source_read()
    rule = rig.proxy.add(http_error(503), method=method, path=path + "down", times=None)

    first = rig.deliver_batch([good, bad])

    assert [d.retry for d in first] == [False, True]
    assert is_transient(first[1]), first[1].error
    if rig.partial_batch:  # the partial batch response names exactly the affected message
        assert rig.last_batch_response == {"batchItemFailures": [{"itemIdentifier": bad.ident}]}
    else:
        assert isinstance(first[1].error, StorageUnavailable)
    attempts = len(rig.proxy.seen(method, path + "down"))
    assert attempts == rule.fired and 2 <= attempts <= 30, f"bounded SDK retries, saw {attempts}"
    rig.assert_complete(healthy)
    rig.assert_absent(broken)  # nothing half-done for the failed event

    rig.proxy.clear()  # the outage ends; the platform redelivers
    assert not rig.deliver(bad).retry
    rig.assert_complete(broken)


def test_a_write_outage_after_the_first_thumbnail_leaves_only_whole_thumbnails(
    rig: FaultRig, sdk_sleeps: SdkSleeps
) -> None:
    key = "half/photo.jpg"
    notification = rig.upload(key, SOURCE)
    method, path = rig.dest_write()
    rig.proxy.add(http_error(503), method=method, path=path, skip=1, times=None)

    failed = rig.deliver(notification)

    assert failed.retry and is_transient(failed)
    if not rig.partial_batch:  # a batch answer carries no exception, only the failed message's id
        assert isinstance(failed.error, TransientError)
    written = rig.assert_outputs_sound()  # what exists is whole and carries its metadata
    assert len(written) == 1

    rig.proxy.clear()
    rig.proxy.reset_record()
    assert not rig.deliver(notification).retry
    rig.assert_complete(key)
    rewrites = [e for e in rig.proxy.seen(method, path) if e.status is not None and e.status < 300]
    assert len(rewrites) == OUTPUTS - 1, "the finished thumbnail is not written again"


def test_a_403_is_permission_denied_retried_and_never_an_internal_error(
    rig: FaultRig, sdk_sleeps: SdkSleeps, json_logs: JsonLogs
) -> None:
    """A destination the function may not write (an IAM policy, an RBAC role): configuration, not a bug.

    It is logged as ``permission_denied`` at ERROR without a traceback and retried (the event waits in the
    platform's retries and dead-letter store for the grant to be fixed), never ``internal_error``.
    """
    key = "denied/photo.jpg"
    notification = rig.upload(key, SOURCE)
    method, path = rig.dest_write()
    rig.proxy.add(http_error(403), method=method, path=path, times=None)

    denied = rig.deliver(notification)

    assert denied.retry
    records = [r for r in json_logs.lines() if r.get("key") == key and r.get("status") == "error"]
    assert [(r["severity"], r["error_kind"]) for r in records] == [("ERROR", "permission_denied")], records
    assert "exception" not in records[0]  # no traceback: not a bug
    rig.assert_absent(key)

    rig.proxy.clear()  # the grant is fixed; the platform redelivers
    assert not rig.deliver(notification).retry
    rig.assert_complete(key)
