"""The source deleted or replaced while its thumbnails are stored, on every rig's storage (the ``store`` fixture:
memory and the filesystem of the local rig, S3 on moto, GCS on fake-gcs-server, Blob on Azurite).

The function's store is wrapped so that, right after a chosen write of the render, the original is deleted
(or replaced), and, as the issue's attacker did with two handler instances, the delete event is handled by a
second function instance at that very moment: it finds nothing of the render yet. Deterministic: the hook
runs inside the render, between two of its requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.delivery import deliver
from core.events import ObjectEvent
from core.keys import is_polythumb_output
from core.runtime import FunctionRuntime
from core.storage import ObjectInfo, Storage, StoredObject
from tests.completion.support import read_events
from tests.images import jpeg_bytes

SIZES = "64x64,32x32"
KEY = "race/photo.jpg"


class HookedStore:
    """``inner``, calling ``hook`` once, around its ``nth`` write of a polythumb output (before it, or after)."""

    def __init__(self, inner: Storage, *, nth: int, hook: Callable[[], None], before: bool = False) -> None:
        self.inner = inner
        self.nth = nth
        self.before = before
        self.hook: Callable[[], None] | None = hook
        self.writes = 0

    @property
    def bucket(self) -> str:
        return self.inner.bucket

    def head(self, key: str) -> ObjectInfo:
        return self.inner.head(key)

    def get(self, key: str) -> StoredObject:
        return self.inner.get(key)

    def put(self, key: str, body: bytes, **options: Any) -> ObjectInfo:
        output = is_polythumb_output(options.get("metadata") or {})
        self.writes += output
        if output and self.before:
            self._fire()
        stored = self.inner.put(key, body, **options)
        if output and not self.before:
            self._fire()
        return stored

    def _fire(self) -> None:
        if self.writes == self.nth and self.hook is not None:
            hook, self.hook = self.hook, None
            hook()

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix, page_size=page_size)


def _runtime(store: Storage, events: Path, **settings: str) -> FunctionRuntime:
    environ = {"THUMBS_DEST_BUCKET": store.bucket, "THUMBS_SIZES": SIZES, "THUMBS_NOTIFY": f"file:{events}",
               **settings}  # fmt: skip
    return FunctionRuntime(lambda bucket: store, environ=environ)


def _handle(runtime: FunctionRuntime, event: ObjectEvent) -> Any:
    [result] = deliver(runtime, lambda: event, route="local").results
    return result


def _outputs(store: Storage) -> list[str]:
    return sorted(info.key for info in store.list() if is_polythumb_output(store.head(info.key).metadata))


THUMBNAILS = {"race/photo-64x64.jpg", "race/photo-32x32.jpg"}

# The writes of one render: two thumbnails, then (THUMBS_MANIFEST=true) the manifest. (manifest, nth write,
# before it?): the delete lands there, and another instance handles its event right away.
MOMENTS = {
    "before the first write": ("true", 1, True),  # the case: the delete finds nothing to remove
    "between the thumbnails": ("false", 1, False),
    "after the thumbnails": ("false", 2, False),
    "before the manifest": ("true", 3, True),
    "after the manifest": ("true", 3, False),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_delete_during_the_writes_leaves_nothing_and_is_never_announced_ready(
    store: Storage, tmp_path: Path, moment: str
) -> None:
    manifest, nth, before = MOMENTS[moment]
    events = tmp_path / "events.jsonl"
    store.put(KEY, jpeg_bytes(320, 240), content_type="image/jpeg")
    other_instance = _runtime(store, events, THUMBS_MANIFEST=manifest)
    handled_delete: list[Any] = []

    def delete_the_original() -> None:
        store.delete(KEY)
        handled_delete.append(_handle(other_instance, ObjectEvent.deleted(store.bucket, KEY)))

    hooked = HookedStore(store, nth=nth, before=before, hook=delete_the_original)
    result = _handle(_runtime(hooked, events, THUMBS_MANIFEST=manifest), ObjectEvent.created(store.bucket, KEY))

    [delete] = handled_delete
    assert delete.outcome is not None and str(delete.outcome.status) == "ok"  # ran while the render was writing
    assert result.outcome is not None, result.error
    assert (str(result.outcome.status), str(result.outcome.reason)) == ("skipped", "source_deleted")
    assert _outputs(store) == [], "a deleted original keeps no thumbnail and no manifest"
    announced = [e for e in read_events(events) if e["subject"] == KEY]
    assert [e["data"]["status"] for e in announced] == ["deleted", "deleted"]  # the delete's, the render's: no ready
    removed = [o["key"] for event in announced for o in event["data"]["outputs"]]
    assert sorted(removed) == sorted(THUMBNAILS)  # each thumbnail removed once, by whichever came last
    if before and nth == 1:
        assert {o["key"] for o in announced[1]["data"]["outputs"]} == THUMBNAILS  # the render took down all


def test_a_delete_during_the_writes_is_kept_with_thumbs_on_delete_keep(store: Storage, tmp_path: Path) -> None:
    """THUMBS_ON_DELETE=keep: the thumbnails of a deleted original stay, whenever the delete lands."""
    events = tmp_path / "events.jsonl"
    store.put(KEY, jpeg_bytes(320, 240), content_type="image/jpeg")
    hooked = HookedStore(store, nth=2, hook=lambda: store.delete(KEY))
    result = _handle(_runtime(hooked, events, THUMBS_ON_DELETE="keep"), ObjectEvent.created(store.bucket, KEY))
    assert result.outcome is not None and str(result.outcome.status) == "ok"
    assert _outputs(store) == ["race/photo-32x32.jpg", "race/photo-64x64.jpg"]


def test_an_overwrite_during_the_writes_is_retried_not_announced_ready(store: Storage, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    store.put(KEY, jpeg_bytes(320, 240), content_type="image/jpeg")
    hooked = HookedStore(store, nth=2, hook=lambda: store.put(KEY, jpeg_bytes(180, 320), content_type="image/jpeg"))
    runtime = _runtime(hooked, events)
    event = ObjectEvent.created(store.bucket, KEY)

    first = _handle(runtime, event)
    assert first.outcome is None and first.error is not None and first.error.kind == "superseded"
    assert read_events(events) == []
    retry = _handle(runtime, event)  # the platform's retry renders the newer original
    assert retry.outcome is not None and str(retry.outcome.status) == "ok"
    [ready] = read_events(events)
    assert ready["data"]["source"]["revision"] == store.head(KEY).revision
