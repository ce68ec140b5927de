"""Completion in the core: settings, placeholders, the webhook and the runtime's publish-after-outcome."""

from __future__ import annotations

import io
import json
import logging
import random

import pytest
from PIL import Image

from core.completion import check_settings
from core.completion.notify import SIGNATURE_HEADER, verify
from core.completion.placeholders import blurhash_encode, dominant_color, lqip_data_uri, placeholders_of
from core.config import load_config
from core.delivery import deliver
from core.errors import ConfigError, NotifyUnavailable, TransientError
from core.events import ObjectEvent
from core.logs import JsonFormatter
from core.ops.cli import main
from core.ops.runner import local_runtime
from core.outcome import Outcome, SkipReason, Status
from core.runtime import FunctionRuntime
from core.storage import MemoryStorage
from tests.completion.support import Receiver, blurhash_mean, mean_colour, validate_event
from tests.images import encode, gradient, jpeg_bytes, png_rgba_bytes

SECRET = "s3cr3t-value-for-tests-only"


# -- settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named", "says"),
    [
        ({"THUMBS_NOTIFY": "ftp://example.com/x"}, "THUMBS_NOTIFY", "unknown scheme 'ftp'"),
        ({"THUMBS_NOTIFY": "https://hooks.example.com/x"}, "THUMBS_NOTIFY_SECRET", "must be set"),
        ({"THUMBS_NOTIFY": "http://hooks.example.com/x", "THUMBS_NOTIFY_SECRET": "k"}, "THUMBS_NOTIFY", "loopback"),
        ({"THUMBS_NOTIFY": "https://u:p@hooks.example.com/x", "THUMBS_NOTIFY_SECRET": "k"}, "THUMBS_NOTIFY",
         "credentials"),
        ({"THUMBS_NOTIFY": "file:"}, "THUMBS_NOTIFY", "needs a path"),
        ({"THUMBS_NOTIFY": "sns:my-topic"}, "THUMBS_NOTIFY", "topic ARN"),
        ({"THUMBS_NOTIFY": "pubsub:my-topic"}, "THUMBS_NOTIFY", "projects/PROJECT/topics/TOPIC"),
        ({"THUMBS_NOTIFY": "eventgrid:https://topic.example.com/"}, "THUMBS_NOTIFY", "/api/events"),
        ({"THUMBS_MANIFEST": "maybe"}, "THUMBS_MANIFEST", "true | false"),
        ({"THUMBS_MANIFEST_KEY": "{dir}/{size}.json"}, "THUMBS_MANIFEST_KEY", "unknown placeholder {size}"),
        ({"THUMBS_MANIFEST_KEY": "{dir}/manifest.json"}, "THUMBS_MANIFEST_KEY", "must name the source"),
        ({"THUMBS_MANIFEST": "true", "THUMBS_MANIFEST_KEY": "{dir}/{stem}-256x256.jpg"}, "THUMBS_MANIFEST_KEY",
         "key of a thumbnail"),
        ({"THUMBS_PUBLIC_BASE_URL": "cdn.example.com"}, "THUMBS_PUBLIC_BASE_URL", "http(s) URL"),
        ({"THUMBS_URL_MODE": "public"}, "THUMBS_URL_MODE", "needs THUMBS_PUBLIC_BASE_URL"),
        ({"THUMBS_URL_MODE": "cdn"}, "THUMBS_URL_MODE", "none | public | signed"),
        ({"THUMBS_URL_TTL": "8d"}, "THUMBS_URL_TTL", "from 1 s to 7 d"),
        ({"THUMBS_URL_TTL": "soon"}, "THUMBS_URL_TTL", "from 1 s to 7 d"),
    ],
)  # fmt: skip
def test_completion_settings_are_validated(settings: dict[str, str], named: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:  # at start: load_config, then the runtime's check_settings
        check_settings(load_config(settings))
    assert named in str(caught.value) and says in str(caught.value)


def test_completion_settings_are_read() -> None:
    config = load_config(
        {"THUMBS_NOTIFY": "file:a.jsonl, https://hooks.example.com/x", "THUMBS_NOTIFY_SECRET": SECRET,
         "THUMBS_MANIFEST": "yes", "THUMBS_PUBLIC_BASE_URL": "https://cdn.example.com/t", "THUMBS_URL_TTL": "2h"}
    )  # fmt: skip
    assert config.notify == ("file:a.jsonl", "https://hooks.example.com/x")
    assert config.manifest and config.manifest_key == "{dir}/{name}.thumbs.json"
    assert (config.public_base_url, config.url_mode, config.url_ttl) == ("https://cdn.example.com/t/", "public", 7200)
    assert SECRET not in repr(config)


def test_signed_urls_need_a_provider_signer() -> None:
    config = load_config({"THUMBS_URL_MODE": "signed", "THUMBS_DEST_BUCKET": "/tmp/x"})
    with pytest.raises(ConfigError, match="THUMBS_URL_MODE=signed is not available in the local runner"):
        local_runtime(config)


def test_the_secret_is_never_printed_or_logged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THUMBS_NOTIFY", "https://hooks.example.com/x")
    monkeypatch.setenv("THUMBS_NOTIFY_SECRET", SECRET)
    assert main(["config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["notify_secret"] == "***" and SECRET not in json.dumps(shown)

    record = logging.LogRecord("polythumb", logging.INFO, __file__, 1, "env THUMBS_NOTIFY_SECRET=%s", (SECRET,), None)
    record.fields = {"settings": {"THUMBS_NOTIFY_SECRET": SECRET}}
    assert SECRET not in JsonFormatter().format(record)


# -- placeholders ---------------------------------------------------------------------------------------


def _noise(width: int, height: int) -> bytes:
    rng = random.Random(7)
    image = Image.frombytes("RGB", (width, height), bytes(rng.randrange(256) for _ in range(width * height * 3)))
    return encode(image, "PNG")


@pytest.mark.parametrize(
    "body",
    [jpeg_bytes(256, 192), png_rgba_bytes(256, 170), encode(Image.new("RGB", (64, 48), (200, 30, 40)), "PNG"),
     _noise(128, 128)],
    ids=["gradient", "rgba", "solid", "noise"],
)  # fmt: skip
def test_blurhash_decodes_to_the_thumbnails_mean_colour_and_the_lqip_is_small(body: bytes) -> None:
    found = placeholders_of(body)
    decoded, actual = blurhash_mean(found.blurhash), mean_colour(body)
    assert all(abs(d - a) <= 10 for d, a in zip(decoded, actual, strict=True)), (decoded, actual)
    assert len(found.blurhash) == 1 + 1 + 4 + 2 * (4 * 3 - 1)  # size, maximum, DC, 11 AC: 4x3 components
    assert found.lqip.startswith(("data:image/webp;base64,", "data:image/jpeg;base64,")) and len(found.lqip) <= 1024


def test_blurhash_matches_the_reference_encoder() -> None:
    import blurhash

    image = gradient(32, 24)
    rows = [[list(image.getpixel((x, y))) for x in range(image.width)] for y in range(image.height)]  # type: ignore[arg-type]
    assert blurhash_encode(image, components=(4, 3)) == blurhash.encode(rows, components_x=4, components_y=3)


def test_dominant_colour_is_the_commonest_not_the_mean() -> None:
    image = Image.new("RGB", (100, 100), (20, 60, 200))
    image.paste((250, 250, 10), (0, 0, 40, 100))  # 40% yellow, 60% blue: the mean is grey
    assert dominant_color(image) == "#143cc8"


def test_lqip_fits_1kb_even_for_noise() -> None:
    with Image.open(io.BytesIO(_noise(512, 512))) as image:
        uri = lqip_data_uri(image.convert("RGB"))
    assert len(uri) <= 1024


# -- the runtime: publish after the outcome ------------------------------------------------------------


@pytest.fixture
def receiver() -> Receiver:
    server = Receiver()
    yield server  # type: ignore[misc]
    server.close()


def _runtime(receiver: Receiver, **settings: str) -> tuple[FunctionRuntime, dict[str, MemoryStorage]]:
    stores: dict[str, MemoryStorage] = {}

    def open_bucket(name: str) -> MemoryStorage:
        return stores.setdefault(name, MemoryStorage(name))

    environ = {"THUMBS_DEST_BUCKET": "thumbs", "THUMBS_SIZES": "64,32", "THUMBS_MANIFEST": "true",
               "THUMBS_NOTIFY": f"{receiver.url}/hook", "THUMBS_NOTIFY_SECRET": SECRET, **settings}  # fmt: skip
    return FunctionRuntime(open_bucket, environ=environ), stores


def _handle(runtime: FunctionRuntime, event: ObjectEvent) -> Outcome:
    """One delivery of ``event`` through :func:`core.delivery.deliver`; a retryable item raises its error."""
    delivery = deliver(runtime, lambda: event, route="test")
    delivery.raise_for_retry()
    (outcome,) = delivery.outcomes
    return outcome


def _upload(runtime: FunctionRuntime, key: str, body: bytes) -> ObjectEvent:
    runtime.thumbnailer.store("photos").put(key, body, content_type="image/jpeg")
    return ObjectEvent.created("photos", key, event_id="delivery-1")


def test_webhook_events_are_signed_and_validate(receiver: Receiver) -> None:
    runtime, _ = _runtime(receiver, THUMBS_PUBLIC_BASE_URL="https://cdn.example.com/t")
    outcome = _handle(runtime, _upload(runtime, "a/cat.jpg", jpeg_bytes(300, 200)))
    assert outcome.status is Status.OK
    (request,) = receiver.accepted
    assert request.path == "/hook" and request.headers["content-type"].startswith("application/cloudevents+json")
    assert verify(SECRET, request.body, request.headers[SIGNATURE_HEADER.lower()])
    assert not verify("another-secret", request.body, request.headers[SIGNATURE_HEADER.lower()])
    event = json.loads(request.body)
    validate_event(event)
    assert [o["url"] for o in event["data"]["outputs"]] == [
        "https://cdn.example.com/t/a/cat-64x64.jpg", "https://cdn.example.com/t/a/cat-32x32.jpg",
    ]  # fmt: skip


def test_a_blip_is_retried_in_process(receiver: Receiver) -> None:
    runtime, _ = _runtime(receiver)
    receiver.fail_next = 1
    _handle(runtime, _upload(runtime, "blip.jpg", jpeg_bytes(120, 80)))
    assert len(receiver.requests) == 2 and len(receiver.accepted) == 1


def test_an_outage_is_transient_and_the_redelivery_only_publishes_with_the_same_id(receiver: Receiver) -> None:
    """Every attempt fails: the delivery raises (the platform retries); the retry renders nothing and publishes."""
    runtime, stores = _runtime(receiver)
    event = _upload(runtime, "down.jpg", jpeg_bytes(120, 80))
    receiver.fail_next = 3
    with pytest.raises(NotifyUnavailable) as caught:
        _handle(runtime, event)
    assert isinstance(caught.value, TransientError) and receiver.accepted == []
    written = {key: info.revision for key, info in ((i.key, i) for i in stores["thumbs"].list())}
    assert set(written) == {"down-64x64.jpg", "down-32x32.jpg", "down.jpg.thumbs.json"}

    first = _handle(runtime, event)  # the platform's retry
    second = _handle(runtime, event)  # and a duplicate delivery of it
    assert (first.status, first.reason) == (Status.SKIPPED, SkipReason.UNCHANGED)
    assert {i.key: i.revision for i in stores["thumbs"].list()} == written  # nothing rewritten
    events = [json.loads(r.body) for r in receiver.accepted]
    assert len(events) == 2 and events[0]["id"] == events[1]["id"] and events[0]["data"] == events[1]["data"]
    for published in events:
        validate_event(published)
    assert {o["key"] for o in events[0]["data"]["outputs"]} == {"down-64x64.jpg", "down-32x32.jpg"}
    assert second.reason is SkipReason.UNCHANGED


def test_a_refusal_is_not_retried_in_process(receiver: Receiver) -> None:
    receiver.answer = lambda request: (401, b"bad signature")
    runtime, _ = _runtime(receiver)
    with pytest.raises(NotifyUnavailable, match="HTTP 401"):
        _handle(runtime, _upload(runtime, "refused.jpg", jpeg_bytes(120, 80)))
    assert len(receiver.requests) == 1


def test_a_changed_source_gets_a_new_id_and_a_failed_image_one_failed_event(receiver: Receiver) -> None:
    runtime, _ = _runtime(receiver)
    _handle(runtime, _upload(runtime, "c.jpg", jpeg_bytes(120, 80)))
    _handle(runtime, _upload(runtime, "c.jpg", jpeg_bytes(100, 90)))
    _handle(runtime, _upload(runtime, "broken.jpg", b"nope"))
    events = [json.loads(r.body) for r in receiver.accepted]
    assert [e["type"].rsplit(".", 1)[1] for e in events] == ["ready", "ready", "failed"]
    assert events[0]["id"] != events[1]["id"]
    assert events[2]["data"]["error"]["kind"] == "not_an_image"


def test_a_directory_delete_removes_manifests_and_announces_one_deleted_event(receiver: Receiver) -> None:
    """A recursive directory delete (Data Lake): thumbnails and manifests below it go; one deleted event."""
    runtime, stores = _runtime(receiver)
    for name in ("dir/a.jpg", "dir/sub/b.jpg"):
        _handle(runtime, _upload(runtime, name, jpeg_bytes(120, 80)))
    assert {i.key for i in stores["thumbs"].list()} >= {"dir/a.jpg.thumbs.json", "dir/sub/b.jpg.thumbs.json"}
    for name in ("dir/a.jpg", "dir/sub/b.jpg"):
        stores["photos"].delete(name)

    outcome = _handle(runtime, ObjectEvent.prefix_deleted("photos", "dir/", event_id="dl-1"))
    assert outcome.status is Status.OK and list(stores["thumbs"].list()) == []
    deleted = json.loads(receiver.accepted[-1].body)
    validate_event(deleted)
    assert (deleted["type"], deleted["subject"]) == ("dev.polythumb.thumbnails.deleted", "dir")
    assert {o["key"] for o in deleted["data"]["outputs"]} == {
        "dir/a-64x64.jpg", "dir/a-32x32.jpg", "dir/sub/b-64x64.jpg", "dir/sub/b-32x32.jpg",
    }  # fmt: skip


def test_every_cloud_package_carries_its_completion_pieces() -> None:
    """The notifiers and signer are loaded by name at run time: the package must hold their modules."""
    from core import registry
    from core.ops.packaging import runtime_files

    for spec in registry.providers().values():
        packaged = {archive for archive, _ in runtime_files(spec.name)}
        for path in [*spec.notifiers.values(), *([spec.url_signer] if spec.url_signer else [])]:
            module = path.partition(":")[0]
            assert f"{module.replace('.', '/')}.py" in packaged, (spec.name, module)
        assert "core/completion/__init__.py" in packaged and "core/completion/placeholders.py" in packaged
