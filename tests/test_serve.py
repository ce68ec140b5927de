"""The serve function in the core (core/serve.py) on counted in-memory buckets: what each request costs in storage
requests, every refusal, the answers' headers, one render per output against concurrent requests and the upload
event, the render cap, and what is logged."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from core.errors import ConfigError, StorageUnavailable
from core.events import ObjectEvent
from core.imaging.types import Box, Fit
from core.keys import META_PARAMS, META_SOURCE, Provenance, RenderSpec, decode_meta_value
from core.serve import prepare
from core.serve_adhoc import adhoc_key
from core.serve_signing import parse_keys, signed_params
from tests.images import jpeg_bytes, open_bytes, record_decodes
from tests.serve_support import KEYS, SECRET, SOURCE, Served

OUTPUTS = ("a/cat-128x96.jpg", "a/cat-48x48.jpg")
SIGNER = parse_keys("THUMBS_SERVE_KEYS", KEYS)[0]


@pytest.fixture
def served() -> Iterator[Served]:
    serve = Served()
    yield serve
    serve.close()


def adhoc_served(**settings: str) -> Served:
    return Served(THUMBS_SERVE_ADHOC="true", THUMBS_SERVE_KEYS=KEYS, **settings)


def signed(key: str, ttl: int = 600, **params: str) -> str:
    return urlencode(signed_params(SIGNER, key, params, expires=int(time.time()) + ttl))


# -- profile outputs ---------------------------------------------------------------------------------------------


def test_a_first_request_renders_every_output_once_and_the_event_then_does_nothing(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes(640, 480))
    response = served.request("GET", OUTPUTS[1])
    assert response.status == 200 and open_bytes(response.body).size == (48, 36)
    assert response.headers["X-Polythumb-Cache"] == "miss" and response.headers["X-Polythumb-Written"] == "2"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    assert response.headers["Content-Type"] == "image/jpeg"
    assert served.source.calls["get"] == 1  # one download for every output
    outcome = served.runtime.thumbnailer.handle(ObjectEvent.created(SOURCE, "a/cat.jpg"))
    assert (outcome.status, outcome.reason) == ("skipped", "unchanged")
    assert dict(served.dest.stored) == dict.fromkeys(OUTPUTS, 1)


def test_an_existing_output_costs_one_head_and_no_render(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())
    served.runtime.thumbnailer.handle(ObjectEvent.created(SOURCE, "a/cat.jpg"))
    before = (served.source.requests, served.dest.requests)
    response = served.request("HEAD", OUTPUTS[0])
    assert (response.status, response.body, response.headers["X-Polythumb-Cache"]) == (200, b"", "hit")
    assert int(response.headers["Content-Length"]) == served.dest.inner.head(OUTPUTS[0]).size
    assert (served.source.requests, served.dest.requests) == (before[0], before[1] + 1)  # one head, no body read


def test_if_none_match_is_304(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())
    etag = served.request("GET", OUTPUTS[0]).headers["ETag"]
    response = served.request("GET", OUTPUTS[0], headers={"if-none-match": f"W/{etag}, \"other\""})
    assert (response.status, response.body, response.headers["ETag"]) == (304, b"", etag)


@pytest.mark.parametrize(
    "key", ["a/cat-64x64.jpg", "a/cat-128x96.gif", "a/cat.jpg", "a/cat.jpg.thumbs.json", "a//cat-48x48.jpg", "x"]
)
def test_a_path_that_is_no_output_is_404_without_a_storage_request(served: Served, key: str) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())
    response = served.request("GET", key)
    assert (response.status, response.headers["Cache-Control"]) == (404, "public, max-age=60")
    assert served.requests() == 0


def test_a_missing_source_is_404_cached_for_a_minute(served: Served) -> None:
    response = served.request("GET", "a/ghost-48x48.jpg")
    assert (response.status, response.headers["Cache-Control"]) == (404, "public, max-age=60")
    assert served.dest.calls["put"] == 0 and served.source.calls["get"] == 0
    assert served.serve_lines()[-1]["refusal"] == "source_missing"


def test_a_filtered_source_is_404_without_reading_it() -> None:
    serve = Served(THUMBS_EXCLUDE="private/*")
    serve.upload("private/cat.jpg", jpeg_bytes())
    assert serve.request("GET", "private/cat-48x48.jpg").status == 404
    assert serve.source.calls["get"] == serve.source.calls["head"] == 0  # never looked at
    serve.close()


def test_a_source_that_is_itself_a_polythumb_output_is_404(served: Served) -> None:
    marker = Provenance("x.jpg", SOURCE, "r1", "48x48", "p").to_metadata()
    served.upload("a/cat.jpg", jpeg_bytes(), **marker)  # an output of polythumb's, found among the originals
    response = served.request("GET", OUTPUTS[0])
    assert (response.status, served.serve_lines()[-1]["refusal"]) == (404, "polythumb_output")
    assert served.dest.calls["put"] == 0


def test_an_object_polythumb_did_not_write_is_never_answered(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())
    served.dest.inner.put(OUTPUTS[0], b"private", content_type="image/jpeg")
    response = served.request("GET", OUTPUTS[0])
    assert (response.status, served.serve_lines()[-1]["refusal"]) == (404, "not_polythumb")
    assert served.dest.inner.get(OUTPUTS[0]).body == b"private"


def test_an_output_rendered_with_other_settings_is_rendered_again_on_request(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())
    served.request("GET", OUTPUTS[0])
    stale = dict(served.dest.inner.head(OUTPUTS[0]).metadata, **{META_PARAMS: "0" * 16})  # rendered before a change
    body = served.dest.inner.get(OUTPUTS[0]).body
    served.dest.inner.put(OUTPUTS[0], body, content_type="image/jpeg", metadata=stale)
    response = served.request("GET", OUTPUTS[0])
    assert (response.status, response.headers["X-Polythumb-Written"]) == (200, "1")
    assert served.dest.inner.head(OUTPUTS[0]).metadata[META_PARAMS] != "0" * 16


def test_a_source_over_the_byte_limit_is_422_without_a_download() -> None:
    serve = Served(THUMBS_MAX_BYTES="10KB")
    serve.upload("a/cat.jpg", jpeg_bytes(1600, 1200))
    response = serve.request("GET", OUTPUTS[0])
    assert (response.status, response.headers["Cache-Control"]) == (422, "public, max-age=60")
    assert serve.source.calls["get"] == 0 and serve.dest.calls["put"] == 0
    assert serve.serve_lines()[-1]["refusal"] == "too_large"
    serve.close()


def test_a_source_over_the_pixel_limit_is_422_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    serve = Served(THUMBS_MAX_PIXELS="100000")
    serve.upload("a/cat.jpg", jpeg_bytes(640, 480))
    decodes = record_decodes(monkeypatch)
    assert serve.request("GET", OUTPUTS[0]).status == 422
    assert decodes == [] and serve.dest.calls["put"] == 0
    serve.close()


def test_the_manifest_is_an_output_too() -> None:
    serve = Served(THUMBS_MANIFEST="true")
    serve.upload("a/cat.jpg", jpeg_bytes())
    response = serve.request("GET", "a/cat.jpg.thumbs.json")
    assert (response.status, response.headers["Content-Type"]) == (200, "application/json")
    assert [output["key"] for output in json.loads(response.body)["outputs"]] == list(OUTPUTS)
    assert serve.request("GET", "a/cat.jpg.thumbs.json").headers["X-Polythumb-Cache"] == "hit"
    serve.close()


def test_the_existing_output_names_its_owner_among_several_candidates(served: Served) -> None:
    """a.jpg and a.jpeg give one key: the first rendered owns it, and a request is answered from the owner."""
    served.upload("a/cat.jpeg", jpeg_bytes(320, 240))
    served.upload("a/cat.jpg", jpeg_bytes(640, 480))
    served.runtime.thumbnailer.handle(ObjectEvent.created(SOURCE, "a/cat.jpeg"))
    response = served.request("GET", OUTPUTS[0])
    assert (response.status, served.serve_lines()[-1]["source"]) == (200, "a/cat.jpeg")
    assert served.source.calls["list"] == 0  # the owner is recorded: no search


def test_a_miss_with_several_candidates_renders_the_first_in_key_order(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())
    served.upload("a/cat.jpeg", jpeg_bytes())
    assert served.request("GET", OUTPUTS[0]).status == 200
    assert decode_meta_value(served.dest.inner.head(OUTPUTS[0]).metadata[META_SOURCE]) == "a/cat.jpeg"
    assert served.source.calls["list"] == 1
    outcome = served.runtime.thumbnailer.handle(ObjectEvent.created(SOURCE, "a/cat.jpg"))
    assert outcome.error_kind == "output_conflict"  # the ownership rule, as between two upload events


def test_public_urls_redirect_and_small_outputs_can_be_inlined() -> None:
    serve = Served(THUMBS_PUBLIC_BASE_URL="https://cdn.example.com/t")
    serve.upload("a/my cat.jpg", jpeg_bytes())
    response = serve.request("GET", "a/my cat-48x48.jpg")
    assert (response.status, response.body) == (302, b"")
    assert response.headers["Location"] == "https://cdn.example.com/t/a/my%20cat-48x48.jpg"
    assert response.headers["Cache-Control"] == "no-store"
    serve.close()
    inline = Served(THUMBS_PUBLIC_BASE_URL="https://cdn.example.com/t", THUMBS_SERVE_INLINE_MAX="2KiB")
    inline.upload("a/cat.jpg", jpeg_bytes())
    assert inline.request("GET", OUTPUTS[1]).status == 200  # a few hundred bytes: answered in place
    assert inline.request("GET", OUTPUTS[0]).status in (200, 302)
    inline.close()


def test_other_methods_long_paths_and_long_queries_are_refused(served: Served) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "get"):
        response = served.request(method, OUTPUTS[0])
        assert (response.status, response.headers["Allow"]) == (405, "GET, HEAD"), method
    assert served.request("GET", "/" + "a" * 5000, raw=True).status == 414
    assert served.request("GET", "a/" + "b" * 1100 + "-48x48.jpg").status == 414
    assert served.request("GET", OUTPUTS[0], "x=" + "y" * 3000).status == 414
    assert served.request("GET", OUTPUTS[0], "&".join(f"n{i}=1" for i in range(40))).status == 414
    assert served.request("GET", "/%ff%fe", raw=True).status == 404  # not UTF-8
    assert served.request("GET", "/a/%0acat-48x48.jpg", raw=True).status == 404  # a control character
    assert served.requests() == 0


def test_the_path_is_decoded_exactly_once(served: Served) -> None:
    served.upload("a/100%25/cat+1.jpg", jpeg_bytes())  # a key with a literal "%25" and "+"
    assert served.request("GET", "/a/100%2525/cat%2B1-48x48.jpg", raw=True).status == 200
    assert served.request("GET", "/a/100%25/cat+1-48x48.jpg", raw=True).status == 404  # "100%" is another folder


def test_a_query_that_is_no_ad_hoc_request_is_ignored(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())
    assert served.request("GET", OUTPUTS[0], "v=2&utm_source=x").status == 200  # a cache buster


# -- signed ad-hoc outputs ---------------------------------------------------------------------------------------


def test_a_signed_ad_hoc_output_is_rendered_once_and_then_answered_from_storage() -> None:
    serve = adhoc_served()
    serve.upload("a/cat.jpg", jpeg_bytes(640, 480))
    query = signed("a/cat.jpg", w="100", h="100", fit="cover", fmt="webp", q="70")
    first = serve.request("GET", "a/cat.jpg", query)
    assert (first.status, open_bytes(first.body).size, first.headers["Content-Type"]) == (200, (100, 100), "image/webp")
    key = adhoc_key("_polythumb/adhoc/", "a/cat.jpg", box=Box(100, 100), fit=Fit.COVER, fmt="webp", quality=70)
    metadata = serve.dest.inner.head(key).metadata
    assert metadata[META_PARAMS] == RenderSpec("webp", 70, Fit.COVER, True).digest(Box(100, 100))
    assert decode_meta_value(metadata[META_SOURCE]) == "a/cat.jpg"
    again = serve.request("GET", "a/cat.jpg", signed("a/cat.jpg", ttl=900, w="100", h="100", fit="cover", fmt="webp",
                                                     q="70"))  # fmt: skip
    assert (again.status, again.headers["X-Polythumb-Written"]) == (200, "0")
    assert dict(serve.dest.stored) == {key: 1}  # no profile output: only what was asked
    serve.close()


def test_an_ad_hoc_output_follows_its_source(tmp_path: Path) -> None:
    serve = adhoc_served(THUMBS_NOTIFY=f"file:{tmp_path / 'events.jsonl'}")
    serve.upload("a/cat.jpg", jpeg_bytes(640, 480))
    query = signed("a/cat.jpg", w="50", h="50")
    assert serve.request("GET", "a/cat.jpg", query).headers["X-Polythumb-Written"] == "1"
    serve.upload("a/cat.jpg", jpeg_bytes(320, 240))  # overwritten: the ad-hoc output is stale
    assert serve.request("GET", "a/cat.jpg", query).headers["X-Polythumb-Written"] == "1"
    assert not (tmp_path / "events.jsonl").exists()  # ad-hoc renders announce nothing
    serve.source.inner.delete("a/cat.jpg")
    outcome = serve.runtime.thumbnailer.handle(ObjectEvent.deleted(SOURCE, "a/cat.jpg"))
    key = adhoc_key("_polythumb/adhoc/", "a/cat.jpg", box=Box(50, 50), fit=Fit.CONTAIN, fmt="jpeg", quality=None)
    assert key in {output.key for output in outcome.outputs if output.action == "deleted"}
    assert [info.key for info in serve.dest.inner.list()] == []
    serve.close()


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ("w=100&h=100", "unsigned"),
        ("w=100&h=100&exp=9999999999&kid=k1&sig=" + "A" * 43, "bad_signature"),
        ("w=100&h=100&exp=9999999999&kid=k9&sig=" + "A" * 43, "unknown_key"),
        ("w=100&h=100&w=100&exp=1&kid=k1&sig=" + "A" * 43, "bad_parameter"),
        ("w=100&h=100&dpr=2&exp=1&kid=k1&sig=" + "A" * 43, "bad_parameter"),
        ("w=0&h=100&exp=1&kid=k1&sig=" + "A" * 43, "bad_parameter"),
        ("w=100&exp=1&kid=k1&sig=" + "A" * 43, "bad_parameter"),
    ],
)
def test_an_ad_hoc_request_is_refused_before_any_storage_request(query: str, refusal: str) -> None:
    serve = adhoc_served()
    response = serve.request("GET", "a/cat.jpg", query)
    assert (response.status, serve.serve_lines()[-1]["refusal"]) == (403, refusal)
    assert serve.requests() == 0
    serve.close()


def test_expired_too_far_tampered_and_over_limit_are_403_without_a_storage_request() -> None:
    serve = adhoc_served(THUMBS_SERVE_ADHOC_MAX_EDGE="500", THUMBS_SERVE_SIGNED_MAX_TTL="1h")
    cases = {
        "expired": signed("a/cat.jpg", ttl=-1, w="10", h="10"),
        "expiry_too_far": signed("a/cat.jpg", ttl=7200, w="10", h="10"),
        "bad_signature": signed("a/cat.jpg", w="10", h="10").replace("h=10", "h=11"),
        "over_limit": signed("a/cat.jpg", w="501", h="10"),
    }
    for refusal, query in cases.items():
        response = serve.request("GET", "a/cat.jpg", query)
        assert (response.status, serve.serve_lines()[-1]["refusal"]) == (403, refusal)
    assert serve.requests() == 0
    assert all(SECRET not in line and "sig=" not in line for line in serve.logs.text().splitlines())
    serve.close()


def test_ad_hoc_requests_are_403_when_ad_hoc_outputs_are_off(served: Served) -> None:
    response = served.request("GET", "a/cat.jpg", signed("a/cat.jpg", w="10", h="10"))
    assert (response.status, served.serve_lines()[-1]["refusal"]) == (403, "adhoc_off")
    assert served.requests() == 0


def test_a_signed_request_for_a_filtered_source_is_404() -> None:
    serve = adhoc_served()
    serve.upload("a/notes.txt", jpeg_bytes())
    assert serve.request("GET", "a/notes.txt", signed("a/notes.txt", w="10", h="10")).status == 404
    assert serve.requests() == 0
    serve.close()


# -- one render per output, the render cap -----------------------------------------------------------------------


def test_concurrent_first_requests_and_the_event_write_each_output_once(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes(1200, 900))
    start = threading.Barrier(9)
    statuses: list[int] = []

    def request(key: str) -> None:
        start.wait()
        statuses.append(served.request("GET", key).status)

    def event() -> None:
        start.wait()
        served.runtime.thumbnailer.handle(ObjectEvent.created(SOURCE, "a/cat.jpg"))

    threads = [threading.Thread(target=request, args=(OUTPUTS[i % 2],)) for i in range(8)]
    threads.append(threading.Thread(target=event))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 8
    assert dict(served.dest.stored) == dict.fromkeys(OUTPUTS, 1)  # one successful put per output, in all
    assert served.source.calls["get"] <= 2  # the requests shared one render; the event may have made another


def test_over_the_render_cap_a_request_is_503_with_retry_after() -> None:
    serve = Served(THUMBS_SERVE_CONCURRENCY="1")
    serve.upload("a/cat.jpg", jpeg_bytes())
    serve.upload("a/dog.jpg", jpeg_bytes())
    inside, release = threading.Event(), threading.Event()

    def hold(key: str) -> None:
        if key == "a/cat.jpg":
            inside.set()
            release.wait(10)

    serve.source.before["get"] = hold
    first = threading.Thread(target=serve.request, args=("GET", OUTPUTS[0]))
    first.start()
    assert inside.wait(10)
    busy = serve.request("GET", "a/dog-48x48.jpg")
    assert (busy.status, busy.headers["Retry-After"], busy.headers["Cache-Control"]) == (503, "1", "no-store")
    shared: list[int] = []  # the same source: it waits for the render in progress and needs no slot
    follower = threading.Thread(target=lambda: shared.append(serve.request("GET", "a/cat-48x48.jpg").status))
    follower.start()
    time.sleep(0.2)
    release.set()
    first.join(10)
    follower.join(10)
    assert shared == [200] and serve.source.calls["get"] == 1
    assert serve.request("GET", "a/dog-48x48.jpg").status == 200  # a slot again
    serve.close()


def test_a_transient_storage_error_is_503_with_retry_after(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())

    def fail(key: str) -> None:
        raise StorageUnavailable("503 SlowDown (injected)")

    served.dest.before["head"] = fail
    response = served.request("GET", OUTPUTS[0])
    assert (response.status, response.headers["Retry-After"]) == (503, "1")
    assert served.serve_lines()[-1]["severity"] == "WARNING"


def test_a_bug_is_500_logged_with_its_traceback(served: Served) -> None:
    served.upload("a/cat.jpg", jpeg_bytes())

    def bug(key: str) -> None:
        raise ZeroDivisionError("a bug")

    served.dest.before["head"] = bug
    assert served.request("GET", OUTPUTS[0]).status == 500
    line = served.serve_lines()[-1]
    assert (line["severity"], line["error_kind"]) == ("ERROR", "internal_error")
    assert "ZeroDivisionError" in line["exception"]


# -- settings at start, logs, completion -------------------------------------------------------------------------


def test_serve_settings_are_refused_at_start_naming_the_variable() -> None:
    for settings, named in (({"THUMBS_SERVE_SOURCE_BUCKET": ""}, "THUMBS_SERVE_SOURCE_BUCKET"),
                            ({"THUMBS_KEY_TEMPLATE": "{stem}-{size}.{ext}"}, "THUMBS_KEY_TEMPLATE")):  # fmt: skip
        serve = Served(**settings)
        with pytest.raises(ConfigError, match=named):
            prepare(serve.runtime)
        assert serve.request("GET", OUTPUTS[0]).status == 500  # a request before prepare: logged, never raised
        serve.close()


def test_one_line_per_request_and_a_render_logs_and_announces_as_the_event_does(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    serve = Served(THUMBS_NOTIFY=f"file:{events}")
    serve.upload("a/cat.jpg", jpeg_bytes())
    serve.request("GET", OUTPUTS[0])
    serve.request("GET", OUTPUTS[1])
    lines = serve.serve_lines()
    summary = [(line["http_status"], line["cache"], line["served"]) for line in lines]
    assert summary == [(200, "miss", "bytes"), (200, "hit", "bytes")]
    outcomes = [line for line in serve.logs.lines() if line.get("kind") == "created"]
    assert [(line["status"], line["route"]) for line in outcomes] == [("ok", "test")]
    announced = [json.loads(line) for line in events.read_text().splitlines()]
    assert [event["type"] for event in announced] == ["dev.polythumb.thumbnails.ready"]
    serve.close()
