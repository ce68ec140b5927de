"""The end-to-end suite, written once and run on every entrypoint (``local`` and each provider's rig).

Each test uploads originals, lets the platform's real event path carry the change to the function
(see :mod:`tests.rigs`), and checks what the destination holds and what the platform was told.
The first line of each docstring names the behaviour in the conformance matrix.
"""

from __future__ import annotations

from core.keys import (
    META_BOX,
    META_PARAMS,
    META_SOURCE,
    META_SOURCE_BUCKET,
    META_SOURCE_REVISION,
    decode_meta_value,
)
from tests.images import jpeg_bytes, open_bytes, png_rgba_bytes
from tests.rigs.base import EntrypointRig

TRICKY_NAMES = [
    "with space/red flower.jpg",
    "plus+sign/a+b.jpg",
    "unicode/café/日本語 写真.jpg",
    "percent%20literal/100%.png",
]


def _upload_image(rig: EntrypointRig, key: str) -> None:
    body = png_rgba_bytes(300, 200) if key.endswith(".png") else jpeg_bytes(640, 480)
    rig.upload(key, body)


def assert_thumbnails_of(rig: EntrypointRig, key: str) -> dict[str, str]:
    """Every configured size of ``key`` is there, right in every respect; returns their revisions."""
    expected = {output.key: output.box for output in rig.config.profiles.outputs_for(key)}
    outputs = {
        k: info for k, info in rig.read_outputs().items() if decode_meta_value(info.metadata[META_SOURCE]) == key
    }
    assert set(outputs) == set(expected), f"{rig.name}: outputs of {key!r}"
    source = rig.source_info(key)
    fmt = "png" if key.endswith(".png") else "jpeg"
    for out_key, box in expected.items():
        info = outputs[out_key]
        assert info.content_type == f"image/{fmt}"
        assert info.cache_control == "public, max-age=3600"
        meta = info.metadata
        assert decode_meta_value(meta[META_SOURCE_BUCKET]) == rig.source_bucket
        assert decode_meta_value(meta[META_SOURCE_REVISION]) == source.revision
        assert meta[META_BOX] == str(box)
        assert meta[META_PARAMS]
        assert all(name == name.lower() for name in meta)
        image = open_bytes(rig.read_body(out_key))
        assert image.format == fmt.upper()
        assert image.width <= box.width and image.height <= box.height
        assert max(image.width / box.width, image.height / box.height) > 0.99  # fills the box on one side
    return {out_key: info.revision for out_key, info in outputs.items()}


def test_upload_makes_thumbnails(entrypoint: EntrypointRig) -> None:
    """Upload -> the platform's event -> every thumbnail, with its keys, sizes, types, caching and metadata."""
    key = entrypoint.key("photos/cat.jpg")
    _upload_image(entrypoint, key)
    delivery = entrypoint.deliver_created(key)
    assert (delivery.verdict, delivery.status, delivery.key) == ("acknowledged", "ok", key)
    assert_thumbnails_of(entrypoint, key)


def test_duplicate_delivery_does_nothing_twice(entrypoint: EntrypointRig) -> None:
    """A duplicate delivery does nothing twice (every thumbnail keeps its revision)."""
    key = entrypoint.key("dup/photo.png")
    _upload_image(entrypoint, key)
    assert entrypoint.deliver_created(key).status == "ok"
    first = assert_thumbnails_of(entrypoint, key)

    again = entrypoint.deliver_created(key)
    assert (again.verdict, again.status, again.reason) == ("acknowledged", "skipped", "unchanged")
    assert assert_thumbnails_of(entrypoint, key) == first


def test_delete_removes_thumbnails(entrypoint: EntrypointRig) -> None:
    """Deleting the original removes its thumbnails."""
    key = entrypoint.key("gone/photo.jpg")
    _upload_image(entrypoint, key)
    entrypoint.deliver_created(key)
    assert len(assert_thumbnails_of(entrypoint, key)) == 2

    delivery = entrypoint.deliver_deleted(key)
    assert (delivery.verdict, delivery.status, delivery.key) == ("acknowledged", "ok", key)
    assert entrypoint.read_outputs() == {}


def test_non_image_is_a_permanent_error(entrypoint: EntrypointRig) -> None:
    """A non-image is a permanent error: acknowledged, never retried, nothing written."""
    key = entrypoint.key("notes/not an image.jpg")
    entrypoint.upload(key, b"<html><body>this is not a JPEG</body></html>", content_type="image/jpeg")
    delivery = entrypoint.deliver_created(key)
    assert (delivery.verdict, delivery.status, delivery.error_kind) == ("acknowledged", "failed", "not_an_image")
    assert entrypoint.read_outputs() == {}


def test_loop_guard_with_destination_equal_to_source(entrypoint_in_place: EntrypointRig) -> None:
    """The loop guard holds with destination == source: the thumbnails' own events are skipped."""
    rig = entrypoint_in_place
    assert rig.dest_bucket == rig.source_bucket
    key = rig.key("same/photo.jpg")
    _upload_image(rig, key)
    assert rig.deliver_created(key).status == "ok"
    revisions = assert_thumbnails_of(rig, key)

    for thumbnail in sorted(revisions):  # the platform reports polythumb's own writes as new uploads
        delivery = rig.deliver_created(thumbnail)
        assert (delivery.verdict, delivery.status, delivery.reason) == ("acknowledged", "skipped", "polythumb_output")
    assert {k: info.revision for k, info in rig.read_outputs().items()} == revisions  # nothing of thumbnails


def test_tricky_keys_survive_the_event_path(entrypoint: EntrypointRig) -> None:
    """Keys with spaces, unicode, `+` and `%` reach the function decoded exactly once."""
    keys = [entrypoint.key(name) for name in TRICKY_NAMES]
    for key in keys:
        _upload_image(entrypoint, key)
    for key in keys:
        delivery = entrypoint.deliver_created(key)
        assert (delivery.status, delivery.key) == ("ok", key), delivery
        assert_thumbnails_of(entrypoint, key)
    for key in keys:
        assert entrypoint.deliver_deleted(key).status == "ok"
    assert entrypoint.read_outputs() == {}
