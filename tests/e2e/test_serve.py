"""The serve suite: requests for thumbnails through each platform's real serve entrypoint (issue 23).

Runs on every rig whose module declares the ``serve`` capability (:func:`tests.rigs.with_capability`):
locally real HTTP to ``polythumb serve``; on a cloud its HTTP entrypoint on the emulators. Each test uploads
originals straight to the source (no event yet), asks for outputs the way a browser does, and checks what it
is answered and what the destination holds; the platform's upload event is delivered where the test says.
The first line of each docstring names the behaviour in the conformance matrix.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from urllib.parse import quote, urlencode

import pytest

from core.errors import NotFound
from core.imaging.types import Box, Fit
from core.keys import META_SOURCE, decode_meta_value
from core.serve_adhoc import adhoc_key
from core.serve_signing import parse_keys, signed_params
from tests import rigs
from tests.e2e.conftest import entrypoint_rig
from tests.e2e.test_entrypoints import assert_thumbnails_of
from tests.images import jpeg_bytes, open_bytes
from tests.rigs.base import EntrypointRig

SERVING = rigs.with_capability("serve")
#: Two keys, so rotation is part of every run: the first signs, both verify.
KEYS = "new:" + "n" * 40 + ",old:" + "o" * 40
SIGNING, OLD = parse_keys("THUMBS_SERVE_KEYS", KEYS)
SETTINGS = {"THUMBS_SERVE_ADHOC": "true", "THUMBS_SERVE_KEYS": KEYS}
ADHOC_PREFIX = "_polythumb/adhoc/"  # the default


@pytest.fixture(params=SERVING)
def serving(request: pytest.FixtureRequest) -> Iterator[EntrypointRig]:
    """A rig on each entrypoint with a serve function (signed ad-hoc outputs on), and a destination of its own."""
    yield from entrypoint_rig(request, in_place=False, extra=SETTINGS)


def ask(
    rig: EntrypointRig, method: str, key: str, query: str = "", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """A request for ``key`` as a browser sends it (the path percent-encoded), header names in lower case."""
    status, answer, body = rig.serve(method, "/" + quote(key), query, headers)
    return status, {name.lower(): value for name, value in answer.items()}, body


def fetched(rig: EntrypointRig, key: str, status: int, headers: Mapping[str, str], body: bytes) -> bytes:
    """The image an answer gives a browser: its bytes, or the stored object a redirect points at."""
    assert status in (200, 302), (status, body[:200])
    if status == 302:
        assert headers["location"].split("?", 1)[0].endswith(quote(key)), headers["location"]
        assert headers["cache-control"] == "no-store"  # never cached: a CDN in front must not keep the hop
        return rig.read_body(key)
    assert int(headers["content-length"]) == len(body)
    assert headers["x-content-type-options"] == "nosniff"
    return body


def upload(rig: EntrypointRig, name: str) -> tuple[str, list[tuple[str, Box]]]:
    """A 640x480 JPEG in the source (no event delivered); its key and its outputs' keys and boxes."""
    key = rig.key(name)
    rig.upload(key, jpeg_bytes(640, 480))
    return key, [(output.key, output.box) for output in rig.config.profiles.outputs_for(key)]


def outputs_of(rig: EntrypointRig, key: str) -> dict[str, str]:
    """Output key -> revision of every object in the destination recording ``key`` as its source."""
    return {
        out_key: info.revision
        for out_key, info in rig.read_outputs().items()
        if decode_meta_value(info.metadata[META_SOURCE]) == key
    }


def adhoc_stored(rig: EntrypointRig, key: str, *, box: Box, fit: Fit = Fit.CONTAIN, fmt: str = "jpeg") -> bytes | None:
    """The ad-hoc output of ``key`` in the destination (its key space is outside the test's prefix), or None."""
    try:
        return rig.read_body(adhoc_key(ADHOC_PREFIX, key, box=box, fit=fit, fmt=fmt, quality=None))
    except NotFound:
        return None


def signed(key: str, params: Mapping[str, str], *, ttl: int = 600, signer: object = SIGNING) -> str:
    return urlencode(signed_params(signer, key, params, expires=int(time.time()) + ttl))  # type: ignore[arg-type]


# -- profile outputs -------------------------------------------------------------------------------------------


def test_the_first_request_renders_and_the_upload_event_then_writes_nothing(serving: EntrypointRig) -> None:
    """First request before the upload event: rendered and answered; the event then writes nothing."""
    key, outputs = upload(serving, "first/cat.jpg")
    out_key, box = outputs[-1]
    status, headers, body = ask(serving, "GET", out_key)
    image = open_bytes(fetched(serving, out_key, status, headers, body))
    assert image.format == "JPEG" and image.width <= box.width and image.height <= box.height
    assert (headers["x-polythumb-cache"], headers["x-polythumb-written"]) == ("miss", str(len(outputs)))
    before = assert_thumbnails_of(serving, key)  # every output of the source, right in every respect
    event = serving.deliver_created(key)
    assert (event.status, event.reason, event.written) == ("skipped", "unchanged", 0)
    assert outputs_of(serving, key) == before


def test_an_existing_output_is_answered_without_a_render(serving: EntrypointRig) -> None:
    """An output that exists is answered at once (no render, nothing written)."""
    key, outputs = upload(serving, "hit/cat.jpg")
    assert serving.deliver_created(key).status == "ok"
    before = outputs_of(serving, key)
    for out_key, _ in outputs:
        status, headers, body = ask(serving, "GET", out_key)
        assert open_bytes(fetched(serving, out_key, status, headers, body)).format == "JPEG"
        assert headers["x-polythumb-cache"] == "hit" and "x-polythumb-written" not in headers
    assert outputs_of(serving, key) == before


def test_head_answers_like_get_without_a_body(serving: EntrypointRig) -> None:
    """HEAD renders a missing output and answers as GET would, without a body."""
    _, outputs = upload(serving, "head/cat.jpg")
    out_key, _ = outputs[0]
    status, headers, body = ask(serving, "HEAD", out_key)
    assert body == b"" and headers["x-polythumb-cache"] == "miss"
    again, got, content = ask(serving, "GET", out_key)
    assert status == again
    if status == 200:
        assert headers["content-length"] == got["content-length"] == str(len(content))
        assert headers["content-type"] == got["content-type"] == "image/jpeg"
        assert headers["etag"] == got["etag"]


def test_a_path_that_is_no_output_is_404_cached_for_a_minute(serving: EntrypointRig) -> None:
    """A path that is no configured output: 404, cached for a minute, nothing written."""
    key, _ = upload(serving, "none/cat.jpg")
    for path in (key, serving.key("none/cat-999x999.jpg"), serving.key("none/cat-160x120.gif"), "robots.txt"):
        status, headers, _ = ask(serving, "GET", path)
        assert (status, headers["cache-control"]) == (404, "public, max-age=60"), path
    assert outputs_of(serving, key) == {}


def test_a_missing_source_is_404_cached_for_a_minute(serving: EntrypointRig) -> None:
    """Negative caching: a thumbnail of a source that does not exist is 404 with Cache-Control max-age=60."""
    status, headers, _ = ask(serving, "GET", serving.key("missing/ghost-160x120.jpg"))
    assert (status, headers["cache-control"]) == (404, "public, max-age=60")
    assert serving.read_outputs() == {}


def test_a_source_polythumb_would_skip_is_404(serving: EntrypointRig) -> None:
    """A request for a source polythumb would skip (filtered out) is 404 and renders nothing."""
    key = serving.key("skip/notes.txt")
    serving.upload(key, jpeg_bytes(64, 48))  # image bytes, but THUMBS_INCLUDE takes no .txt
    status, headers, _ = ask(serving, "GET", serving.key("skip/notes-160x120.png"))
    assert (status, headers["cache-control"]) == (404, "public, max-age=60")
    assert serving.read_outputs() == {}


def test_a_method_other_than_get_and_head_is_405(serving: EntrypointRig) -> None:
    """Methods other than GET and HEAD: 405 with Allow, nothing rendered."""
    _, outputs = upload(serving, "post/cat.jpg")
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = ask(serving, method, outputs[0][0])
        assert (status, headers["allow"]) == (405, "GET, HEAD"), method
    assert serving.read_outputs() == {}


def test_a_path_longer_than_any_key_is_414(serving: EntrypointRig) -> None:
    """A path longer than any output key (1024 bytes) is 414."""
    status, _, _ = ask(serving, "GET", serving.key("long/" + "a" * 1100 + "-160x120.jpg"))
    assert status == 414


def test_concurrent_first_requests_and_the_event_write_each_output_once(serving: EntrypointRig) -> None:
    """Concurrent first requests and the upload event together write each output once."""
    key, outputs = upload(serving, "race/cat.jpg")
    answers: list[tuple[int, dict[str, str], bytes]] = []
    events: list[int | None] = []
    start = threading.Barrier(len(outputs) * 3 + 1)

    def request(out_key: str) -> None:
        start.wait()
        answers.append(ask(serving, "GET", out_key))

    def event() -> None:
        start.wait()
        events.append(serving.deliver_created(key).written)

    threads = [threading.Thread(target=request, args=(out_key,)) for out_key, _ in outputs * 3]
    threads.append(threading.Thread(target=event))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == len(outputs) * 3 and len(events) == 1
    assert all(status in (200, 302) for status, _, _ in answers), [a[:2] for a in answers]
    written = sum(int(headers.get("x-polythumb-written", "0")) for _, headers, _ in answers) + (events[0] or 0)
    assert written == len(outputs)  # every output exists (below), so each was written exactly once
    assert_thumbnails_of(serving, key)


# -- signed ad-hoc outputs --------------------------------------------------------------------------------------


def test_a_signed_ad_hoc_output_is_rendered_and_stored_apart(serving: EntrypointRig) -> None:
    """A signed ad-hoc output (an old key too: rotation) is rendered, stored in its own key space, answered."""
    key, _ = upload(serving, "adhoc/cat.jpg")
    params = {"w": "100", "h": "100", "fit": "cover", "fmt": "png"}
    stored = adhoc_key(ADHOC_PREFIX, key, box=Box(100, 100), fit=Fit.COVER, fmt="png", quality=None)
    for signer in (SIGNING, OLD):
        status, headers, body = ask(serving, "GET", key, signed(key, params, signer=signer))
        image = open_bytes(fetched(serving, stored, status, headers, body))
        assert (image.format, image.size) == ("PNG", (100, 100))
    assert adhoc_stored(serving, key, box=Box(100, 100), fit=Fit.COVER, fmt="png") == serving.read_body(stored)
    assert outputs_of(serving, key) == {}  # no profile output: an ad-hoc request renders only what it asks


def test_an_unsigned_ad_hoc_request_is_403(serving: EntrypointRig) -> None:
    """Unsigned ad-hoc request refused: 403, nothing decoded or written."""
    key, _ = upload(serving, "unsigned/cat.jpg")
    for query in ("w=100&h=100", "w=100&h=100&exp=9999999999&kid=new", "fmt=webp"):
        status, _, _ = ask(serving, "GET", key, query)
        assert status == 403, query
    assert serving.read_outputs() == {} and adhoc_stored(serving, key, box=Box(100, 100)) is None


def test_a_tampered_or_expired_signature_is_403(serving: EntrypointRig) -> None:
    """Tampered or expired signed URL refused: 403, nothing decoded or written."""
    key, _ = upload(serving, "tampered/cat.jpg")
    good = signed(key, {"w": "100", "h": "100"})
    refused = [
        good.replace("w=100", "w=101"),  # another size than signed
        good.replace("kid=new", "kid=old"),  # another key's id
        signed(key, {"w": "100", "h": "100"}, ttl=-5),  # expired
        signed(key, {"w": "100", "h": "100"}, ttl=400 * 86400),  # valid for longer than allowed
    ]
    for query in refused:
        status, headers, _ = ask(serving, "GET", key, query)
        assert (status, headers["cache-control"]) == (403, "no-store"), query
    status, _, _ = ask(serving, "GET", serving.key("tampered/other.jpg"), good)  # signed for another path
    assert status == 403
    assert serving.read_outputs() == {}
    assert [adhoc_stored(serving, key, box=Box(w, 100)) for w in (100, 101)] == [None, None]


def test_an_over_limit_ad_hoc_request_is_403_before_decoding(serving: EntrypointRig) -> None:
    """Over-limit ad-hoc request (signed) refused: 403 before the source is read."""
    key, _ = upload(serving, "huge/cat.jpg")
    for params in ({"w": "4000", "h": "10"}, {"w": "10", "h": "2049", "fmt": "webp"}):
        status, _, _ = ask(serving, "GET", key, signed(key, params))
        assert status == 403, params
    assert serving.read_outputs() == {}
    assert adhoc_stored(serving, key, box=Box(4000, 10)) is None
    assert adhoc_stored(serving, key, box=Box(10, 2049), fmt="webp") is None
