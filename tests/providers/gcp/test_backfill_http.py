"""The GCP cloud fan-out: ``polythumb backfill --target gcp`` posts CloudEvents to the function.

The post is the ``finalized`` CloudEvent the entrypoint parses back; how the sink reads HTTP answers is
checked against a small local server that answers what functions-framework never would (429, 413, 401).
The kill-and-resume run itself, against the real functions-framework server, is the shared scenario of
``tests/test_backfill_resume.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import pytest

from core.errors import ConfigError, PermissionDenied
from core.events import ObjectEvent
from providers.gcp.backfill import CloudEventSink, TokenSource, cloud_event_headers, object_resource
from providers.gcp.events import parse_cloud_event
from tests.rigs.base import TRICKY_KEYS, sink_request

pytestmark = pytest.mark.gcp

ROOT = Path(__file__).parents[3]


# -- the message -------------------------------------------------------------------------


def test_post_is_the_finalized_cloud_event_the_entrypoint_parses_back() -> None:
    for key in TRICKY_KEYS:
        event = ObjectEvent.created("bkt", key, size=12, etag="CJ+x", version="1700", event_id="backfill-1")
        headers = cloud_event_headers(event)
        assert all(value.isascii() for value in headers.values())  # HTTP headers: ASCII only
        attributes = {name[3:]: unquote(value) for name, value in headers.items() if name.startswith("ce-")}
        assert attributes["subject"] == f"objects/{key}"
        parsed = parse_cloud_event(attributes, json.dumps(object_resource(event)))
        assert isinstance(parsed, ObjectEvent)
        assert (parsed.bucket, parsed.key, parsed.size, parsed.etag, parsed.version, parsed.event_id) == (
            "bkt", key, 12, "CJ+x", "1700", "backfill-1",
        )  # fmt: skip


# -- how answers are read, against a local server --------------------------------------------


class _Answers(BaseHTTPRequestHandler):
    statuses: ClassVar[dict[str, int]] = {}
    tokens: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Answers.tokens.append(self.headers.get("Authorization"))
        key = unquote(self.headers["ce-subject"]).removeprefix("objects/")
        self.send_response(_Answers.statuses.get(key, 204))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def answers() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Answers.statuses, _Answers.tokens = {}, []
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_answers_become_accepted_retryable_dead_letter_or_stop(answers: str, tmp_path: Path) -> None:
    _Answers.statuses = {"busy.jpg": 429, "down.jpg": 503, "huge.jpg": 413, "bad.jpg": 400}
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    sink = CloudEventSink(answers, workers=3, tokens=TokenSource(path=token_file))
    try:
        keys = ["ok.jpg", "busy.jpg", "down.jpg", "huge.jpg", "bad.jpg"]
        result = sink.send([ObjectEvent.created("bkt", key, event_id=f"id-{key}") for key in keys])
        assert result.accepted == (0,)
        assert {(f.index, f.retryable) for f in result.failed} == {(1, True), (2, True), (3, False), (4, False)}
        assert set(_Answers.tokens) == {"Bearer first-token"}

        token_file.write_text("second-token\n")  # refreshed by whoever renews it: read again
        assert sink.send([ObjectEvent.created("bkt", "ok.jpg", event_id="id")]).accepted == (0,)
        assert _Answers.tokens[-1] == "Bearer second-token"

        _Answers.statuses = {"ok.jpg": 401}
        with pytest.raises(PermissionDenied, match=r"run\.invoker") as denied:
            sink.send([ObjectEvent.created("bkt", "ok.jpg", event_id="id")])
        assert "second-token" not in str(denied.value)  # the token itself never shows
        _Answers.statuses = {"ok.jpg": 404}
        with pytest.raises(ConfigError, match="404"):
            sink.send([ObjectEvent.created("bkt", "ok.jpg", event_id="id")])
    finally:
        sink.close()
    assert "secret" not in repr(TokenSource(token="secret"))


def test_unreachable_function_is_retryable_and_plain_http_elsewhere_is_refused(tmp_path: Path) -> None:
    from tests.providers.gcp.emulator import free_port

    sink = CloudEventSink(f"http://127.0.0.1:{free_port()}/", workers=1, timeout=5)
    try:
        [failure] = sink.send([ObjectEvent.created("bkt", "a.jpg", event_id="id")]).failed
        assert failure.retryable
    finally:
        sink.close()
    with pytest.raises(ConfigError, match="https"):
        CloudEventSink("http://example.com/fn", workers=1)


# -- end to end --------------------------------------------------------------------------------


def test_make_sink_needs_a_url_and_checks_its_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from providers.gcp.backfill import make_sink

    monkeypatch.delenv("THUMBS_BACKFILL_URL", raising=False)
    with pytest.raises(ConfigError, match="THUMBS_BACKFILL_URL"):
        make_sink(sink_request("gcp", workers=2))
    with pytest.raises(ConfigError, match="not both"):
        make_sink(sink_request("gcp", url="https://f", id_token="a", id_token_file="b"))
    with pytest.raises(ConfigError, match="cannot read the identity token file"):
        make_sink(sink_request("gcp", url="https://f", id_token_file=str(tmp_path / "none")))
    with pytest.raises(ConfigError, match="unknown --sink-option queue_url"):
        make_sink(sink_request("gcp", queue_url="x"))


def test_a_url_setting_that_is_no_url_is_refused_at_start_naming_it() -> None:
    """``polythumb backfill --target gcp`` validates the provider's settings with the shared ones, before any work."""
    from core.config import load_config
    from providers.gcp import PROVIDER

    with pytest.raises(ConfigError, match=r"THUMBS_BACKFILL_URL='thumbnailer' is not valid; accepted values: "):
        load_config({"THUMBS_BACKFILL_URL": "thumbnailer"}, extra_settings=PROVIDER.settings)
    assert load_config({"THUMBS_BACKFILL_URL": "https://fn.a.run.app"}, extra_settings=PROVIDER.settings).sources


def test_deploy_grants_invoker_on_the_finalized_service_only() -> None:
    import hcl2

    with (ROOT / "providers/gcp/deploy/backfill.tf").open() as handle:
        parsed = hcl2.load(handle)
    [block] = parsed["resource"]
    grant = block['"google_cloud_run_v2_service_iam_member"']['"backfill_invokes"']
    assert grant["role"].strip('"') == "roles/run.invoker"
    assert grant["name"] == '${google_cloudfunctions2_function.thumbnails["finalized"].service_config[0].service}'
    assert grant["member"] == "${each.value}"
    [output] = parsed["output"]
    assert "service_config[0].uri" in output['"backfill_url"']["value"]
