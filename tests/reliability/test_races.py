"""Duplicate, reordered and concurrent events on every provider.

Platforms deliver at least once, in no guaranteed order, and may run two deliveries at the same time.
Whatever the order, the destination must end matching the source as it finally is (its newest revision,
or nothing), with no stale thumbnail left for a newer original, and with no more writes than the
platform's duplicates force. Puts and reads are counted at the proxy.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from core.keys import META_SOURCE_REVISION, decode_meta_value
from tests.completion.support import read_events
from tests.images import jpeg_bytes, open_bytes
from tests.reliability.faultproxy import Fault, Rule
from tests.rigs.base import Attempt, FaultRig, Notification, is_transient
from tests.rigs.plugin import SdkSleeps

LANDSCAPE = jpeg_bytes(320, 240)
PORTRAIT = jpeg_bytes(180, 320)
OUTPUTS = 2
THREADS = 4
READY = "dev.polythumb.thumbnails.ready"


def successful_writes(rig: FaultRig) -> int:
    method, path = rig.dest_write()
    return sum(1 for e in rig.proxy.seen(method, path) if e.status is not None and 200 <= e.status < 300)


def source_reads(rig: FaultRig) -> int:
    method, path = rig.source_read()
    return len(rig.proxy.seen(method, path))


def assert_portrait(rig: FaultRig, key: str) -> None:
    """Every thumbnail of ``key`` shows the newest (portrait) original."""
    rig.assert_complete(key)
    objects = rig.dest_objects()
    for out_key in rig.expected_outputs(key):
        image = open_bytes(objects[out_key].body)
        assert image.height > image.width, f"{out_key} is {image.size}: rendered from the older original"


def test_the_same_event_twice_does_the_work_once(rig: FaultRig) -> None:
    key = "twice/photo.jpg"
    notification = rig.upload(key, LANDSCAPE)

    assert not rig.deliver(notification).retry
    assert not rig.deliver(notification).retry  # at least once: the same delivery again

    rig.assert_complete(key)
    assert successful_writes(rig) == OUTPUTS
    assert source_reads(rig) == 1, "the duplicate was settled from metadata alone"


def test_the_same_event_delivered_concurrently_stores_each_thumbnail_once(rig: FaultRig, sdk_sleeps: SdkSleeps) -> None:
    key = "concurrent/photo.jpg"
    notification = rig.upload(key, LANDSCAPE)
    method, path = rig.dest_write()
    # Hold every thumbnail write until all deliveries have rendered: then they really race.
    gate = rig.proxy.add(Rule(Fault.GATE, times=None), method=method, path=path)
    runtimes = [rig.new_runtime() for _ in range(THREADS)]  # separate containers, separate clients
    results: list[Attempt] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        delivery = rig.deliver(notification, runtimes[index])
        with lock:
            results.append(delivery)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for _ in range(200):
        if gate.matched >= THREADS:
            break
        threading.Event().wait(0.05)
    assert gate.matched >= THREADS, "the deliveries did not all reach their first write"
    gate.open()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == THREADS
    assert not [d for d in results if d.retry], [d.error for d in results if d.retry]
    rig.assert_complete(key)
    assert successful_writes(rig) == OUTPUTS, "each thumbnail stored exactly once"
    assert source_reads(rig) <= THREADS  # each concurrent delivery renders at most once: platform-forced


#: Orders of (create v1, delete, create v2) where the last event delivered is not the newest one.
ORDERS = {"delete_last": (0, 2, 1), "newest_first": (2, 0, 1), "delete_first": (1, 2, 0)}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_create_delete_recreate_in_any_order_ends_with_the_new_original(rig: FaultRig, order: str) -> None:
    key = "recreated/photo.jpg"
    rig.upload(key, LANDSCAPE)
    rig.delete(key)
    rig.upload(key, PORTRAIT)
    events = [n for n in rig.notifications if n.key == key]
    assert len(events) == 3

    for notification in (events[i] for i in ORDERS[order]):
        assert not rig.deliver(notification).retry
    for notification in events:  # and whatever else the platform still redelivers, in its order
        assert not rig.deliver(notification).retry

    assert_portrait(rig, key)


@pytest.mark.parametrize("order", ["delete_first", "create_first"])
def test_create_then_delete_in_any_order_leaves_nothing(rig: FaultRig, order: str) -> None:
    key = "gone/photo.jpg"
    created = rig.upload(key, LANDSCAPE)
    deleted = rig.delete(key)

    sequence = [deleted, created] if order == "delete_first" else [created, deleted]
    for notification in sequence:
        assert not rig.deliver(notification).retry

    rig.assert_absent(key)
    if order == "delete_first":
        assert successful_writes(rig) == 0, "a create for a source that is gone renders nothing"


def _overwrite(rig: FaultRig, key: str) -> tuple[Notification, Notification, list[Notification]]:
    first = rig.upload(key, LANDSCAPE)
    second = rig.upload(key, PORTRAIT)
    return first, second, [n for n in rig.notifications if n.key == key]


def test_two_rapid_overwrites_delivered_newest_first_leave_the_newest(rig: FaultRig) -> None:
    key = "overwrite/reversed.jpg"
    first, second, everything = _overwrite(rig, key)

    assert not rig.deliver(second).retry
    writes = successful_writes(rig)
    assert not rig.deliver(first).retry  # the older event, late: finds the outputs current

    assert successful_writes(rig) == writes == OUTPUTS
    for notification in everything:
        assert not rig.deliver(notification).retry
    assert_portrait(rig, key)


def test_two_rapid_overwrites_delivered_concurrently_leave_the_newest(rig: FaultRig) -> None:
    key = "overwrite/concurrent.jpg"
    first, second, _ = _overwrite(rig, key)
    results: dict[str, Attempt] = {}
    runtimes = {"first": rig.new_runtime(), "second": rig.new_runtime()}
    pending = {"first": first, "second": second}

    def run(name: str) -> None:
        results[name] = rig.deliver(pending[name], runtimes[name])

    threads = [threading.Thread(target=run, args=(name,)) for name in pending]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    for name, delivery in results.items():
        if delivery.retry:  # a platform retry is allowed; it must then settle
            assert not rig.deliver(pending[name]).retry
    assert_portrait(rig, key)


def test_a_slow_worker_never_leaves_a_stale_thumbnail(rig: FaultRig) -> None:
    """Worker A renders v1 and stalls before writing; v2 arrives and worker B finishes it; then A writes."""
    key = "slow/photo.jpg"
    v1 = rig.upload(key, LANDSCAPE)
    method, path = rig.dest_write()
    stall = rig.proxy.add(Rule(Fault.GATE), method=method, path=path)  # A's first write waits here
    slow_runtime, fast_runtime = rig.new_runtime(), rig.new_runtime()
    slow: list[Attempt] = []
    worker = threading.Thread(target=lambda: slow.append(rig.deliver(v1, slow_runtime)))
    worker.start()
    assert stall.arrived.wait(30), "worker A never reached its write"

    v2 = rig.upload(key, PORTRAIT)
    assert not rig.deliver(v2, fast_runtime).retry  # worker B: the newer original, written first
    stall.open()
    worker.join(timeout=60)

    [late] = slow
    assert late.retry, "A's stale write must not succeed silently"
    assert_portrait(rig, key)  # and it did not overwrite B's thumbnails
    assert not rig.deliver(v1, slow_runtime).retry  # the platform's retry of A settles from metadata
    assert_portrait(rig, key)
    new_revision = rig.source_revision(key)
    for stored in rig.dest_objects().values():
        assert decode_meta_value(stored.info.metadata[META_SOURCE_REVISION]) == new_revision


# -- the source changes while its thumbnails are being written ---------------------------------------------


def _announced(path: Path, key: str) -> list[dict[str, Any]]:
    return [event for event in read_events(path) if event["subject"] == key]


def _gated_delivery(rig: FaultRig, notification: Notification) -> tuple[threading.Thread, Rule, list[Attempt]]:
    """Deliver ``notification`` on its own function instance, its first thumbnail write held at the proxy."""
    method, path = rig.dest_write()
    gate = rig.proxy.add(Rule(Fault.GATE, times=1), method=method, path=path)
    runtime = rig.new_runtime()
    results: list[Attempt] = []
    worker = threading.Thread(target=lambda: results.append(rig.deliver(notification, runtime)))
    worker.start()
    assert gate.arrived.wait(30), "the render never reached its first write"
    return worker, gate, results


def test_a_delete_that_lands_while_the_thumbnails_are_written_leaves_nothing_published(
    rig: FaultRig, tmp_path: Path
) -> None:
    """The original is deleted mid-render and another instance handles the delete first (finding nothing):
    the render removes what it wrote, manifest included, and announces deleted, never ready."""
    events = tmp_path / "events.jsonl"
    rig.configure(THUMBS_MANIFEST="true", THUMBS_NOTIFY=f"file:{events}")
    key = "vanishing/photo.jpg"
    created = rig.upload(key, LANDSCAPE)
    worker, gate, results = _gated_delivery(rig, created)

    deleted = rig.delete(key)
    assert not rig.deliver(deleted, rig.new_runtime()).retry  # a second instance: nothing written yet to delete
    gate.open()
    worker.join(timeout=60)

    [render] = results
    assert not render.retry, render.error
    assert rig.dest_objects() == {}, "a deleted original must not keep published thumbnails or a manifest"
    announced = _announced(events, key)
    assert [e["data"]["status"] for e in announced] == ["deleted", "deleted"]  # the delete's, then the render's
    assert {o["key"] for o in announced[1]["data"]["outputs"]} == set(rig.expected_outputs(key))
    assert announced[1]["data"]["kind"] == "created"  # the render of the created event took them down again


def test_a_source_overwritten_while_its_thumbnails_are_written_is_never_announced_ready_as_stale(
    rig: FaultRig, tmp_path: Path
) -> None:
    """v1's render finishes writing after v2 replaced the original: it is retried, never announced ready for v1;
    v2's event and the retry both announce the newer revision (one id)."""
    events = tmp_path / "events.jsonl"
    rig.configure(THUMBS_NOTIFY=f"file:{events}")
    key = "replaced/photo.jpg"
    v1 = rig.upload(key, LANDSCAPE)
    old_revision = rig.source_revision(key)
    worker, gate, results = _gated_delivery(rig, v1)

    v2 = rig.upload(key, PORTRAIT)
    gate.open()
    worker.join(timeout=60)

    [render] = results
    assert is_transient(render), "a render of a replaced revision is superseded, for the platform to retry"
    assert _announced(events, key) == []
    assert not rig.deliver(v2).retry
    rig.deliver_until_done(v1)  # the platform's retry of v1's event
    assert_portrait(rig, key)
    announced = _announced(events, key)
    assert {e["data"]["source"]["revision"] for e in announced} == {rig.source_revision(key)} != {old_revision}
    assert [e["type"] for e in announced] == [READY, READY] and announced[0]["id"] == announced[1]["id"]
