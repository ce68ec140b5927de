"""Issue 20, the completion layer: redirects, deadlines, answer sizes, event sizes, dot segments, secrets.

Every webhook here is a real server on 127.0.0.1 (:mod:`tests.completion.servers`), driven through the
runtime's own delivery path (:func:`core.delivery.deliver`), as a cloud entrypoint drives it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from core.completion.notify import SIGNATURE_HEADER, verify
from core.completion.urls import UrlBuilder, resolves_elsewhere
from core.config import load_config
from core.delivery import deliver
from core.errors import ConfigError, NotifyTimeout, NotifyUnavailable
from core.events import ObjectEvent
from core.ops.cli import main
from core.outcome import Status
from core.runtime import FunctionRuntime
from core.storage import MemoryStorage
from tests.completion.servers import RawServer, answering, dripping, flooding, hanging, redirecting
from tests.completion.support import Receiver, validate_event, validate_manifest
from tests.images import jpeg_bytes

SECRET = "s3cr3t-value-for-tests-only"


def _runtime(target: str, **settings: str) -> tuple[FunctionRuntime, dict[str, MemoryStorage]]:
    stores: dict[str, MemoryStorage] = {}

    def open_bucket(name: str) -> MemoryStorage:
        return stores.setdefault(name, MemoryStorage(name))

    environ = {"THUMBS_DEST_BUCKET": "thumbs", "THUMBS_SIZES": "64,32", "THUMBS_MANIFEST": "true",
               "THUMBS_NOTIFY": target, "THUMBS_NOTIFY_SECRET": SECRET, **settings}  # fmt: skip
    return FunctionRuntime(open_bucket, environ=environ), stores


def _upload(runtime: FunctionRuntime, key: str, *, size: tuple[int, int] = (120, 80)) -> ObjectEvent:
    runtime.thumbnailer.store("photos").put(key, jpeg_bytes(*size), content_type="image/jpeg")
    return ObjectEvent.created("photos", key, event_id=f"delivery-{key}")


@pytest.fixture
def servers() -> Iterator[list[RawServer]]:
    made: list[RawServer] = []
    yield made
    for server in made:
        server.close()


# -- item 6: redirects are never followed ---------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_naming_its_location_and_nothing_reaches_it(
    status: int, servers: list[RawServer]
) -> None:
    elsewhere = RawServer(answering(200))  # what the redirect points to: must receive nothing, of any method
    try:
        hook = RawServer(redirecting(status, f"{elsewhere.url}/steal?token=leaked-token"))
        servers.append(hook)
        runtime, stores = _runtime(f"{hook.url}/hook")
        [result] = deliver(runtime, lambda: _upload(runtime, "r.jpg"), route="test").results
        assert result.retryable and isinstance(result.error, NotifyUnavailable)
        message = str(result.error)
        assert f"HTTP {status}" in message and f"{elsewhere.url}/steal" in message and "leaked-token" not in message
        assert elsewhere.connections == 0 and elsewhere.received == []  # no GET, no POST, no signature carried
        assert len(hook.received) == 1  # not retried in-process either: a redirect is a setting to fix
        assert {"r-64x64.jpg", "r-32x32.jpg", "r.jpg.thumbs.json"} <= {i.key for i in stores["thumbs"].list()}
    finally:
        elsewhere.close()


# -- item 11: one deadline per publish, a few KB of answer, a stalled batch stops publishing ---------------


def test_a_dripping_target_is_cut_at_the_deadline(servers: list[RawServer]) -> None:
    """One byte every 0.3 s: each read succeeds, so only an overall deadline ends it (here 1 s)."""
    drip = RawServer(dripping(0.3))
    servers.append(drip)
    runtime, _ = _runtime(f"{drip.url}/hook")
    event = _upload(runtime, "drip.jpg")
    started = time.monotonic()
    [result] = deliver(runtime, lambda: event, route="test", window=runtime.publish_window(2.0)).results
    elapsed = time.monotonic() - started
    assert isinstance(result.error, NotifyTimeout) and result.retryable, result
    assert elapsed < 2.0, elapsed  # the window: 2 s left, 1 s reserved; the answer would take 30 s
    assert drip.sent < 10


def test_a_huge_answer_is_not_read(servers: list[RawServer]) -> None:
    flood = RawServer(flooding(64 * 2**20))
    servers.append(flood)
    runtime, _ = _runtime(f"{flood.url}/hook")
    [result] = deliver(runtime, lambda: _upload(runtime, "flood.jpg"), route="test").results
    assert result.status is Status.OK and not result.retryable
    time.sleep(0.2)
    assert flood.sent < 8 * 2**20, flood.sent  # what socket buffers took before the client closed; not 64 MB


def test_after_a_timeout_the_rest_of_the_delivery_is_retried_without_waiting(servers: list[RawServer]) -> None:
    """A delivery of four events (a Data Lake rename, a queue message): the first waits, the others do not."""
    hang = RawServer(hanging)
    servers.append(hang)
    runtime, stores = _runtime(f"{hang.url}/hook")
    events = [_upload(runtime, f"batch/{n}.jpg") for n in range(4)]
    started = time.monotonic()
    delivery = deliver(runtime, lambda: events, route="test", window=runtime.publish_window(2.5))
    elapsed = time.monotonic() - started
    assert [r.retryable for r in delivery.results] == [True] * 4
    assert all(isinstance(r.error, NotifyTimeout) for r in delivery.results)
    assert "ran out of time earlier in this delivery" in str(delivery.results[3].error)
    assert hang.connections == 1  # one wait for the whole delivery
    assert elapsed < 2.5, elapsed
    assert {f"batch/{n}.jpg.thumbs.json" for n in range(4)} <= {i.key for i in stores["thumbs"].list()}


# -- item 12: an event over a target's size limit ---------------------------------------------------------


def test_an_oversized_event_goes_without_urls_and_points_to_the_manifest() -> None:
    receiver = Receiver()
    try:
        base = "https://cdn.example.com/" + "p" * 6000 + "/"  # 6 KB per URL: 64 outputs (the most sizes) pass 256 KiB
        sizes = ",".join(str(n) for n in range(8, 72))
        runtime, stores = _runtime(f"{receiver.url}/hook", THUMBS_SIZES=sizes, THUMBS_PUBLIC_BASE_URL=base)
        [result] = deliver(runtime, lambda: _upload(runtime, "big.jpg", size=(160, 120)), route="test").results
        assert result.status is Status.OK, result
        (request,) = receiver.accepted
        assert len(request.body) <= 256 * 1024
        assert verify(SECRET, request.body, request.headers[SIGNATURE_HEADER.lower()])
        event = json.loads(request.body)
        validate_event(event)
        data = event["data"]
        assert data["urls_omitted"] is True and len(data["outputs"]) == 64
        assert all("url" not in output for output in data["outputs"])
        assert data["manifest"]["url"] == base + "big.jpg.thumbs.json"  # where every URL still is
        manifest = json.loads(stores["thumbs"].get("big.jpg.thumbs.json").body)
        validate_manifest(manifest)
        assert all(output["url"].startswith(base) for output in manifest["outputs"])
    finally:
        receiver.close()


def test_an_event_too_large_even_without_urls_is_a_permanent_failure_logged_once() -> None:
    receiver = Receiver()
    try:
        # The limits refused at start (64 sizes, 128 outputs, keys of at most 1 KiB) keep a thumbnail event
        # without URLs under every platform's cap; only a smaller cap than the webhook's shows this path.
        sizes = ",".join(str(n) for n in range(8, 72))
        runtime, _ = _runtime(f"{receiver.url}/hook", THUMBS_SIZES=sizes)
        for notifier in runtime.completion.notifiers:
            notifier.max_event_bytes = 16 * 1024
        key = "deep/" + "k" * 960 + ".jpg"  # 64 output keys of ~1 KB: no URL to drop makes it fit 16 KiB
        [result] = deliver(runtime, lambda: _upload(runtime, key, size=(160, 120)), route="test").results
        assert result.status is Status.FAILED and not result.retryable
        assert result.outcome is not None and result.outcome.error_kind == "event_too_large"
        assert receiver.requests == []
    finally:
        receiver.close()


# -- item 7: no URL that normalises to another key ----------------------------------------------------------


@pytest.mark.parametrize("key", ["u1/../u2/cat.jpg", "./cat.jpg", "a/./b.jpg", "a/..", ".."])
def test_a_key_with_a_dot_segment_gets_no_url(key: str) -> None:
    assert resolves_elsewhere(key)
    builder = UrlBuilder(load_config({"THUMBS_PUBLIC_BASE_URL": "https://cdn.example.com/t"}))
    assert builder.url(MemoryStorage("b"), key) is None


@pytest.mark.parametrize("key", ["a/b.jpg", "a/..b/c.jpg", "a/.../c.jpg", "a/%2e%2e/c.jpg", ".hidden/x.jpg"])
def test_other_keys_keep_their_url(key: str) -> None:
    assert not resolves_elsewhere(key)
    builder = UrlBuilder(load_config({"THUMBS_PUBLIC_BASE_URL": "https://cdn.example.com/t"}))
    url = builder.url(MemoryStorage("b"), key)
    assert url is not None and url.startswith("https://cdn.example.com/t/")


def test_a_source_with_dot_segments_is_refused_and_announced_without_a_url() -> None:
    """Its output keys would resolve to another path in a store or a browser: nothing is written, and the
    failed event names the key without a URL that a CDN would resolve to another user's thumbnail."""
    receiver = Receiver()
    try:
        runtime, stores = _runtime(f"{receiver.url}/hook", THUMBS_PUBLIC_BASE_URL="https://cdn.example.com/t")
        [result] = deliver(runtime, lambda: _upload(runtime, "u1/../u2/cat.jpg"), route="test").results
        assert result.status is Status.FAILED and not result.retryable
        assert result.outcome is not None and result.outcome.error_kind == "invalid_key"
        assert "thumbs" not in stores or list(stores["thumbs"].list()) == []  # nothing written anywhere
        event = json.loads(receiver.accepted[0].body)
        validate_event(event)
        assert event["type"] == "dev.polythumb.thumbnails.failed" and event["data"]["outputs"] == []
        assert "https://" not in receiver.accepted[0].body.decode()
    finally:
        receiver.close()


# -- items 9 and 13: settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named", "says"),
    [
        ({"THUMBS_NOTIFY": "https://hooks.example.com:99999/x"}, "THUMBS_NOTIFY", "port must be a number from 1"),
        ({"THUMBS_NOTIFY": "https://hooks.example.com:0/x"}, "THUMBS_NOTIFY", "port must be a number from 1"),
        ({"THUMBS_NOTIFY": "eventgrid:https://t.example.com:70000/api/events"}, "THUMBS_NOTIFY", "port"),
        ({"THUMBS_NOTIFY": "https://hooks.example.com/x?tags=a,b"}, "THUMBS_NOTIFY", "%2C"),
        ({"THUMBS_NOTIFY": "https://hooks.example.com/x?tags=a,b:c"}, "THUMBS_NOTIFY", "%2C"),
        ({"THUMBS_NOTIFY_SECRET": " \n"}, "THUMBS_NOTIFY_SECRET", "only whitespace"),
        ({"THUMBS_PUBLIC_BASE_URL": "https://user:pa55word@cdn.example.com/t"}, "THUMBS_PUBLIC_BASE_URL",
         "credentials"),
    ],
)  # fmt: skip
def test_bad_completion_settings_are_refused_at_start(settings: dict[str, str], named: str, says: str) -> None:
    environ = {"THUMBS_NOTIFY_SECRET": SECRET, "THUMBS_DEST_BUCKET": "thumbs", **settings}
    with pytest.raises(ConfigError) as caught:
        FunctionRuntime(MemoryStorage, environ=environ)
    assert named in str(caught.value) and says in str(caught.value)
    assert "pa55word" not in str(caught.value)


def test_the_secret_is_used_verbatim(servers: list[RawServer]) -> None:
    receiver = Receiver()
    try:
        secret = "with-a-trailing-newline\n"
        runtime, _ = _runtime(f"{receiver.url}/hook", THUMBS_NOTIFY_SECRET=secret)
        assert runtime.config.notify_secret == secret
        deliver(runtime, lambda: _upload(runtime, "v.jpg"), route="test").raise_for_retry()
        (request,) = receiver.accepted
        assert verify(secret, request.body, request.headers[SIGNATURE_HEADER.lower()])  # the receiver's value
    finally:
        receiver.close()


def test_config_prints_no_token_of_a_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THUMBS_NOTIFY", "https://hooks.example.com/x?token=tok-123,file:events.jsonl")
    monkeypatch.setenv("THUMBS_NOTIFY_SECRET", SECRET)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "tok-123" not in out
    assert json.loads(out)["notify"] == ["https://hooks.example.com/x", "file:events.jsonl"]
