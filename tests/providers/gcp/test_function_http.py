"""End to end over HTTP: functions-framework serves the real targets; fake-gcs-server holds the objects.

Each test uploads originals with google-cloud-storage, POSTs what Cloud Storage/Eventarc would deliver
for them (built from the emulator's own object resource) and reads the destination bucket back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, load_config
from core.keys import (
    META_SOURCE,
    META_SOURCE_BUCKET,
    META_SOURCE_REVISION,
    decode_meta_value,
)
from tests.images import jpeg_bytes, open_bytes, png_rgba_bytes
from tests.providers.gcp.deliveries import (
    attributes,
    background_event,
    object_change_event,
    object_resource,
    post_binary,
    post_cloud_event,
    post_json,
    post_structured,
)
from tests.providers.gcp.emulator import FunctionServer

pytestmark = pytest.mark.gcp

FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"
EVENTS = Path(__file__).parent / "events"


@pytest.fixture(scope="module")
def buckets(gcs_new_bucket: Callable[[str], str]) -> tuple[str, str]:
    return gcs_new_bucket("src"), gcs_new_bucket("thumbs")


@pytest.fixture(scope="module")
def settings(buckets: tuple[str, str]) -> dict[str, str]:
    return {
        "THUMBS_DEST_BUCKET": buckets[1],
        "THUMBS_SIZES": "128x128,48x48",
        "THUMBS_CACHE_CONTROL": "public, max-age=3600",
    }


@pytest.fixture(scope="module")
def config(settings: Mapping[str, str]) -> Config:
    return load_config(settings)


@pytest.fixture(scope="module")
def cloud_function(gcp_function_server: Callable[..., FunctionServer], settings: dict[str, str]) -> FunctionServer:
    return gcp_function_server("handle_cloud_event", "cloudevent", settings)


@pytest.fixture(scope="module")
def legacy_function(gcp_function_server: Callable[..., FunctionServer], settings: dict[str, str]) -> FunctionServer:
    return gcp_function_server("handle_legacy_event", "event", settings)


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def upload(client: Any, bucket: str, key: str, body: bytes, content_type: str) -> Any:
    blob = client.bucket(bucket).blob(key)
    blob.upload_from_string(body, content_type=content_type)
    return blob


def records_for(server: FunctionServer, event_id: str) -> list[dict[str, Any]]:
    return [r for r in server.records() if r.get("event_id") == event_id]


def assert_thumbnails(
    client: Any, config: Config, source_bucket: str, key: str, revision: str, *, fmt_content_type: str
) -> dict[str, int]:
    """Every configured size is in the destination with the right type, caching and metadata; returns generations."""
    generations = {}
    for out_key, box in ((output.key, output.box) for output in config.profiles.outputs_for(key)):
        thumb = client.bucket(config.dest_bucket).get_blob(out_key)
        assert thumb is not None, f"missing thumbnail {out_key}"
        assert thumb.content_type == fmt_content_type
        assert thumb.cache_control == "public, max-age=3600"
        meta = thumb.metadata
        assert decode_meta_value(meta[META_SOURCE]) == key
        assert decode_meta_value(meta[META_SOURCE_BUCKET]) == source_bucket
        assert decode_meta_value(meta[META_SOURCE_REVISION]) == revision
        image = open_bytes(thumb.download_as_bytes())
        assert image.width <= box.width and image.height <= box.height
        assert max(image.width / box.width, image.height / box.height) > 0.99  # fills the box on one side
        generations[out_key] = thumb.generation
    return generations


def assert_no_thumbnails(client: Any, config: Config, key: str) -> None:
    for out_key in (output.key for output in config.profiles.outputs_for(key)):
        assert client.bucket(config.dest_bucket).get_blob(out_key) is None, f"{out_key} still exists"


LIFECYCLES = [
    ("binary", "nested/dir/red flower.jpg", "jpeg"),
    ("structured", "unicode/café/日本語 写真.jpg", "jpeg"),
    ("binary", "plus+and%20percent/été.jpeg", "jpeg"),
    ("structured", "deep/a/b/c/transparent logo.png", "png"),
]


@pytest.mark.parametrize(("mode", "name", "kind"), LIFECYCLES)
def test_finalized_renders_and_deleted_removes(
    cloud_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], config: Config, prefix: str,
    mode: str, name: str, kind: str,
) -> None:  # fmt: skip
    source, _ = buckets
    key = f"{prefix}/{name}"
    body, content_type = (jpeg_bytes(), "image/jpeg") if kind == "jpeg" else (png_rgba_bytes(), "image/png")
    blob = upload(gcs_client, source, key, body, content_type)
    resource = object_resource(blob)
    assert isinstance(resource["size"], str) and isinstance(resource["generation"], str)  # as GCS sends them

    attrs = attributes(resource, FINALIZED)
    response = post_cloud_event(cloud_function.url, mode, attrs, resource)
    assert response.status_code == 200, cloud_function.output()
    assert_thumbnails(gcs_client, config, source, key, resource["generation"], fmt_content_type=content_type)
    [record] = records_for(cloud_function, attrs["id"])
    assert (record["severity"], record["status"], record["key"]) == ("INFO", "ok", key)
    assert record["revision"] == resource["generation"]

    blob.delete()  # GCS then emits "deleted" with the object's last resource
    deleted = attributes(resource, DELETED)
    response = post_cloud_event(cloud_function.url, mode, deleted, resource)
    assert response.status_code == 200, cloud_function.output()
    assert_no_thumbnails(gcs_client, config, key)
    [record] = records_for(cloud_function, deleted["id"])
    assert (record["status"], record["kind"]) == ("ok", "deleted")
    assert {o["action"] for o in record["outputs"]} == {"deleted"}


def test_duplicate_delivery_does_nothing_twice(
    cloud_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], config: Config, prefix: str
) -> None:
    source, _ = buckets
    key = f"{prefix}/twice.jpg"
    resource = object_resource(upload(gcs_client, source, key, jpeg_bytes(), "image/jpeg"))
    attrs = attributes(resource, FINALIZED)
    assert post_binary(cloud_function.url, attrs, resource).status_code == 200
    first = assert_thumbnails(gcs_client, config, source, key, resource["generation"], fmt_content_type="image/jpeg")

    # At-least-once delivery: the same event (same id) again, in the other content mode.
    assert post_structured(cloud_function.url, attrs, resource).status_code == 200
    again = assert_thumbnails(gcs_client, config, source, key, resource["generation"], fmt_content_type="image/jpeg")
    assert again == first  # not rewritten: same generations
    records = records_for(cloud_function, attrs["id"])
    assert [(r["status"], r.get("reason")) for r in records] == [("ok", None), ("skipped", "unchanged")]


def test_overwrite_rerenders_from_the_new_generation(
    cloud_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], config: Config, prefix: str
) -> None:
    source, _ = buckets
    key = f"{prefix}/again.jpg"
    old = object_resource(upload(gcs_client, source, key, jpeg_bytes(400, 300), "image/jpeg"))
    assert post_binary(cloud_function.url, attributes(old, FINALIZED), old).status_code == 200
    new = object_resource(upload(gcs_client, source, key, jpeg_bytes(300, 400), "image/jpeg"))
    # GCS emits "deleted" for the overwritten generation and "finalized" for the new one, in any order.
    assert post_binary(cloud_function.url, attributes(old, DELETED), old).status_code == 200
    assert post_binary(cloud_function.url, attributes(new, FINALIZED), new).status_code == 200
    assert_thumbnails(gcs_client, config, source, key, new["generation"], fmt_content_type="image/jpeg")


def test_not_an_image_is_a_permanent_error_logged_once_and_acknowledged(
    cloud_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], config: Config, prefix: str
) -> None:
    source, _ = buckets
    key = f"{prefix}/not really.jpg"
    resource = object_resource(upload(gcs_client, source, key, b"<html>not an image</html>", "image/jpeg"))
    attrs = attributes(resource, FINALIZED)
    response = post_binary(cloud_function.url, attrs, resource)
    assert response.status_code == 200  # 2xx: Eventarc must not redeliver it
    assert_no_thumbnails(gcs_client, config, key)
    [record] = records_for(cloud_function, attrs["id"])
    assert record["severity"] == "ERROR"
    assert record["status"] == "failed"
    assert record["error_kind"] == "not_an_image"
    assert key in record["message"] and "not_an_image" in record["message"]


def test_a_request_that_is_not_a_cloud_event_gets_400(cloud_function: FunctionServer) -> None:
    response = post_json(cloud_function.url, {"hello": "world"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("event_type", "data"),
    [(FINALIZED, {"bucket": "b", "size": "1"}),  # no name
     (FINALIZED, {"bucket": "b", "name": "x.jpg", "size": "huge"}),
     ("google.cloud.pubsub.topic.v1.messagePublished", {"message": {"data": "aGk="}})],
)  # fmt: skip
def test_a_malformed_cloud_event_is_reported_once_and_not_retried(
    cloud_function: FunctionServer, event_type: str, data: dict[str, Any]
) -> None:
    attrs = attributes({"bucket": "b", "name": "x.jpg"}, event_type)
    response = post_binary(cloud_function.url, attrs, data)
    assert response.status_code == 200, cloud_function.output()  # see providers/gcp/main.py: 4xx would be retried
    [record] = records_for(cloud_function, attrs["id"])
    assert record["severity"] == "ERROR"
    assert record["error_kind"] == "malformed_event"
    assert record["message"].startswith("malformed event, acknowledged and not retried")


def test_metadata_updated_is_acknowledged_and_skipped(
    cloud_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], config: Config, prefix: str
) -> None:
    event_type = "google.cloud.storage.object.v1.metadataUpdated"
    source, _ = buckets
    key = f"{prefix}/skip me.jpg"
    resource = object_resource(upload(gcs_client, source, key, jpeg_bytes(), "image/jpeg"))
    attrs = attributes(resource, event_type)
    assert post_structured(cloud_function.url, attrs, resource).status_code == 200
    assert_no_thumbnails(gcs_client, config, key)
    [record] = records_for(cloud_function, attrs["id"])
    assert (record["severity"], record["status"], record["reason"], record["key"]) == (
        "INFO", "skipped", "not_applicable", key,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_every_vendor_sample_is_accepted_over_http(cloud_function: FunctionServer, name: str) -> None:
    payload = json.loads((EVENTS / name).read_text(encoding="utf-8-sig"))
    if name.startswith("cloudevent_"):
        response = post_json(cloud_function.url, payload, content_type="application/cloudevents+json")
        expected_key = payload["data"]["name"]
    elif name.startswith("legacy_"):
        # functions-framework converts 1st-gen envelopes into CloudEvents for a cloudevent target.
        response = post_json(cloud_function.url, payload)
        expected_key = payload["data"]["name"]
    else:
        response = post_binary(cloud_function.url, attributes(payload, FINALIZED), payload)
        expected_key = payload["name"]
    assert response.status_code == 200, cloud_function.output()
    # Those buckets do not exist here and the keys are not images: parsed, then filtered out.
    record = [r for r in cloud_function.records() if r.get("key") == expected_key][-1]
    assert record["status"] == "skipped"
    if name == "legacy_object_change_deleted_dotnet.json":
        assert record["kind"] == "deleted"


def test_first_gen_background_events(
    legacy_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], config: Config, prefix: str
) -> None:
    source, _ = buckets
    key = f"{prefix}/first gen/ünïcode.jpg"
    blob = upload(gcs_client, source, key, jpeg_bytes(), "image/jpeg")
    resource = object_resource(blob)

    finalize = background_event(resource, "google.storage.object.finalize")
    assert post_json(legacy_function.url, finalize).status_code == 200, legacy_function.output()
    assert_thumbnails(gcs_client, config, source, key, resource["generation"], fmt_content_type="image/jpeg")
    [record] = records_for(legacy_function, finalize["context"]["eventId"])
    assert (record["route"], record["status"]) == ("background", "ok")

    blob.delete()
    delete = background_event(resource, "google.storage.object.delete")
    assert post_json(legacy_function.url, delete).status_code == 200, legacy_function.output()
    assert_no_thumbnails(gcs_client, config, key)


def test_old_object_change_format(
    legacy_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], config: Config, prefix: str
) -> None:
    source, _ = buckets
    key = f"{prefix}/old format.png"
    blob = upload(gcs_client, source, key, png_rgba_bytes(), "image/png")
    resource = object_resource(blob)
    assert post_json(legacy_function.url, object_change_event(resource, deleted=False)).status_code == 200
    assert_thumbnails(gcs_client, config, source, key, resource["generation"], fmt_content_type="image/png")
    blob.delete()
    assert post_json(legacy_function.url, object_change_event(resource, deleted=True)).status_code == 200
    assert_no_thumbnails(gcs_client, config, key)


def test_binary_cloud_event_reaches_the_first_gen_target_too(
    legacy_function: FunctionServer, gcs_client: Any, buckets: tuple[str, str], config: Config, prefix: str
) -> None:
    # functions-framework converts a storage CloudEvent into (data, context) for an "event" target.
    source, _ = buckets
    key = f"{prefix}/converted.jpg"
    resource = object_resource(upload(gcs_client, source, key, jpeg_bytes(), "image/jpeg"))
    assert post_binary(legacy_function.url, attributes(resource, FINALIZED), resource).status_code == 200
    assert_thumbnails(gcs_client, config, source, key, resource["generation"], fmt_content_type="image/jpeg")


@pytest.fixture(scope="module")
def versioned_source(gcs_client: Any) -> str:
    """A source bucket with object versioning on (fake-gcs-server keeps noncurrent generations)."""
    from google.cloud import storage

    bucket = storage.Bucket(gcs_client, f"pt-versioned-{uuid.uuid4().hex[:12]}")
    bucket.versioning_enabled = True
    created = gcs_client.create_bucket(bucket)
    assert gcs_client.get_bucket(created.name).versioning_enabled
    return str(created.name)


def test_a_delete_on_a_versioned_bucket_arrives_as_archived_and_removes_the_thumbnails(
    cloud_function: FunctionServer, gcs_client: Any, versioned_source: str, config: Config, prefix: str
) -> None:
    # Issue 17: with versioning on, Cloud Storage sends "archived" and no "deleted"; before, the archived
    # event was acknowledged and skipped and the thumbnails of a deleted original stayed for good.
    key = f"{prefix}/versioned/photo.jpg"
    blob = upload(gcs_client, versioned_source, key, jpeg_bytes(), "image/jpeg")
    resource = object_resource(blob)
    assert post_structured(cloud_function.url, attributes(resource, FINALIZED), resource).status_code == 200
    assert_thumbnails(gcs_client, config, versioned_source, key, str(blob.generation), fmt_content_type="image/jpeg")

    gcs_client.bucket(versioned_source).blob(key).delete()  # the live generation becomes noncurrent
    noncurrent = gcs_client.bucket(versioned_source).blob(key, generation=blob.generation)
    assert noncurrent.download_as_bytes() == jpeg_bytes()  # the old bytes are kept, as on Cloud Storage
    attrs = attributes(resource, "google.cloud.storage.object.v1.archived")
    assert post_structured(cloud_function.url, attrs, resource).status_code == 200, cloud_function.output()

    assert_no_thumbnails(gcs_client, config, key)
    [record] = records_for(cloud_function, attrs["id"])
    assert (record["status"], record["kind"]) == ("ok", "deleted")


def test_an_overwrite_on_a_versioned_bucket_keeps_thumbnails_for_the_live_generation(
    cloud_function: FunctionServer, gcs_client: Any, versioned_source: str, config: Config, prefix: str
) -> None:
    # An overwrite archives the old generation too: the live object still exists, so the archived event
    # leaves the thumbnails alone, and the finalized event of the new generation re-renders them.
    key = f"{prefix}/versioned/overwritten.jpg"
    first = upload(gcs_client, versioned_source, key, jpeg_bytes(320, 240), "image/jpeg")
    old = object_resource(first)
    assert post_structured(cloud_function.url, attributes(old, FINALIZED), old).status_code == 200
    second = upload(gcs_client, versioned_source, key, jpeg_bytes(200, 300), "image/jpeg")
    new = object_resource(second)

    archived = attributes(old, "google.cloud.storage.object.v1.archived")
    assert post_structured(cloud_function.url, archived, old).status_code == 200
    [record] = records_for(cloud_function, archived["id"])
    assert (record["status"], record["reason"]) == ("skipped", "source_exists")
    assert_thumbnails(gcs_client, config, versioned_source, key, str(first.generation), fmt_content_type="image/jpeg")

    assert post_structured(cloud_function.url, attributes(new, FINALIZED), new).status_code == 200
    assert_thumbnails(gcs_client, config, versioned_source, key, str(second.generation), fmt_content_type="image/jpeg")
