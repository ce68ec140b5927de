"""The completion contract, written once and run on every entrypoint (``local``, ``aws``, ``gcp``, ``azure``).

Each entrypoint runs with ``THUMBS_MANIFEST=true`` and ``THUMBS_NOTIFY=file:...`` and is driven through
its platform's real event path (:mod:`tests.e2e.rigs`): a ready event and a manifest per rendered
source, the same event id on redelivery, one failed event for a bad image, a deleted event and no
manifest after a delete. Every event and manifest is validated against the shipped schema. The
cloud-native targets (SNS, EventBridge, Pub/Sub, Event Grid) are tested in ``tests/providers/<cloud>/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.completion.naming import manifest_key
from core.keys import META_BOX, META_SOURCE, decode_meta_value
from tests.completion.support import blurhash_mean, mean_colour, read_events, validate_manifest
from tests.e2e.conftest import ENTRYPOINTS, entrypoint_rig
from tests.images import jpeg_bytes, open_bytes
from tests.rigs.base import EntrypointRig

READY = "dev.polythumb.thumbnails.ready"


@pytest.fixture(scope="session")
def events_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("completion-events")


@pytest.fixture(params=ENTRYPOINTS)
def completing(request: pytest.FixtureRequest, events_dir: Path) -> Iterator[tuple[EntrypointRig, Path]]:
    """A rig with manifests on and a ``file:`` target (one file per entrypoint, shared by its tests)."""
    path = events_dir / f"{request.param}.jsonl"
    settings = {"THUMBS_MANIFEST": "true", "THUMBS_NOTIFY": f"file:{path}"}
    for rig in entrypoint_rig(request, in_place=False, extra=settings):
        yield rig, path


def _events(rig: EntrypointRig, path: Path, key: str) -> list[dict[str, Any]]:
    return [event for event in read_events(path, subject_prefix=rig.prefix) if event["subject"] == key]  # type: ignore[attr-defined]


def test_ready_event_and_manifest(completing: tuple[EntrypointRig, Path]) -> None:
    """Upload -> one ready event (schema-valid, naming every thumbnail as stored) and a manifest next to them."""
    rig, path = completing
    key = rig.key("photos/sunset.jpg")
    rig.upload(key, jpeg_bytes(640, 480))
    assert rig.deliver_created(key).status == "ok"

    events = _events(rig, path, key)
    assert [e["type"] for e in events] == [READY]
    event = events[0]
    source = rig.source_info(key)
    assert event["data"]["source"] == {"bucket": rig.source_bucket, "key": key, "revision": source.revision,
                                       "size": source.size}  # fmt: skip
    stored = rig.read_outputs()
    expected = {o.key for o in rig.config.profiles.outputs_for(key)}
    assert {o["key"] for o in event["data"]["outputs"]} == expected
    for output in event["data"]["outputs"]:
        info = stored[output["key"]]
        image = open_bytes(rig.read_body(output["key"]))
        assert output["bucket"] == rig.dest_bucket
        assert (output["width"], output["height"]) == image.size
        assert (output["bytes"], output["content_type"], output["revision"]) == (
            info.size, info.content_type, info.revision,
        )  # fmt: skip

    manifest = manifest_key(rig.config, key)
    assert event["data"]["manifest"]["key"] == manifest
    info = stored[manifest]  # polythumb's own output: it carries the marker
    assert decode_meta_value(info.metadata[META_SOURCE]) == key and info.metadata[META_BOX] == "manifest"
    document = json.loads(rig.read_body(manifest))
    validate_manifest(document)
    assert document["outputs"] == event["data"]["outputs"]
    smallest = min(document["outputs"], key=lambda o: o["width"] * o["height"])
    decoded, actual = blurhash_mean(document["placeholders"]["blurhash"]), mean_colour(rig.read_body(smallest["key"]))
    assert all(abs(d - a) <= 10 for d, a in zip(decoded, actual, strict=True)), (decoded, actual)

    again = rig.deliver_created(key)  # a redelivery renders nothing and announces again, same id
    assert (again.status, again.reason) == ("skipped", "unchanged")
    events = _events(rig, path, key)
    assert len(events) == 2 and events[1]["id"] == events[0]["id"]
    assert events[1]["data"] == events[0]["data"]
    assert {k: i.revision for k, i in rig.read_outputs().items()} == {k: i.revision for k, i in stored.items()}


def test_failed_image_emits_one_failed_event(completing: tuple[EntrypointRig, Path]) -> None:
    """A file that is not an image: one failed event with the error's kind, no manifest, no thumbnail."""
    rig, path = completing
    key = rig.key("broken/not-really.jpg")
    rig.upload(key, b"<!DOCTYPE html><p>not an image</p>", content_type="image/jpeg")
    delivery = rig.deliver_created(key)
    assert (delivery.verdict, delivery.status, delivery.error_kind) == ("acknowledged", "failed", "not_an_image")
    events = _events(rig, path, key)
    assert [e["type"] for e in events] == ["dev.polythumb.thumbnails.failed"]
    assert events[0]["data"]["error"]["kind"] == "not_an_image"
    assert events[0]["data"]["outputs"] == []
    assert events[0]["data"]["source"]["revision"] == rig.source_info(key).revision
    assert rig.read_outputs() == {}


def test_delete_emits_deleted_and_removes_the_manifest(completing: tuple[EntrypointRig, Path]) -> None:
    """Delete the original: a deleted event naming the removed thumbnails; the manifest goes with them."""
    rig, path = completing
    key = rig.key("gone/photo.jpg")
    rig.upload(key, jpeg_bytes(320, 240))
    assert rig.deliver_created(key).status == "ok"
    assert manifest_key(rig.config, key) in rig.read_outputs()

    assert rig.deliver_deleted(key).status == "ok"
    assert rig.read_outputs() == {}
    events = _events(rig, path, key)
    assert [e["type"] for e in events] == [READY, "dev.polythumb.thumbnails.deleted"]
    deleted = events[1]
    assert {o["key"] for o in deleted["data"]["outputs"]} == {o.key for o in rig.config.profiles.outputs_for(key)}
    assert deleted["id"] != events[0]["id"]


def test_sources_that_differ_in_extension_get_a_manifest_each(completing: tuple[EntrypointRig, Path]) -> None:
    """a.jpg and a.png have thumbnails of their own (.jpg and .png) and, with the default key, manifests too."""
    rig, path = completing
    keys = (rig.key("pair/a.jpg"), rig.key("pair/a.png"))
    for key in keys:
        rig.upload(key, jpeg_bytes(320, 240))
        assert rig.deliver_created(key).status == "ok"
    stored = rig.read_outputs()
    for key in keys:
        manifest = manifest_key(rig.config, key)
        assert decode_meta_value(stored[manifest].metadata[META_SOURCE]) == key
        document = json.loads(rig.read_body(manifest))
        assert document["source"]["key"] == key
        assert {o["key"] for o in document["outputs"]} == {o.key for o in rig.config.profiles.outputs_for(key)}
        [ready] = _events(rig, path, key)
        assert (ready["data"]["kind"], ready["data"]["manifest"]["key"]) == ("created", manifest)
