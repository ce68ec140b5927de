"""The GCP cloud fan-out: ``polythumb backfill --target gcp`` posts CloudEvents to the real function server.

The CLI runs in a subprocess against fake-gcs-server and posts ``finalized`` CloudEvents to
``handle_cloud_event`` served by the real functions-framework (gunicorn, in its own process): each post
renders. The run is SIGKILLed half-way and resumed from its checkpoint; every image ends with exactly one
correct set of thumbnails and nothing else. How the sink reads HTTP answers is checked against a small
local server that answers what functions-framework never would (429, 413, 401).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import pytest

from core.config import Config, load_config
from core.errors import ConfigError, PermissionDenied
from core.events import ObjectEvent
from core.keys import META_PARAMS, META_SOURCE_REVISION, decode_meta_value, output_format, output_keys
from core.keys import render_params_digest as digest
from providers.gcp.backfill import CloudEventSink, TokenSource, cloud_event_headers, object_resource
from providers.gcp.events import parse_cloud_event
from providers.gcp.storage import GcsStorage
from tests.backfill_support import wait_for_progress
from tests.images import jpeg_bytes, open_bytes
from tests.providers.gcp.emulator import PROJECT, FakeGcs, FunctionServer

pytestmark = pytest.mark.gcp

ROOT = Path(__file__).parents[3]
SIZES = "48x48,24x24"
COUNT = 200
TRICKY = ["plus+sign/a+b.jpg", "unicode/café/日本語 写真.jpg", "percent/100% off.jpg", "space dir/x y.jpg"]


def sources() -> list[str]:
    return sorted([f"photos/{i % 4}/img {i:03}.jpg" for i in range(COUNT - len(TRICKY))] + TRICKY)


def cli(source: str, dest: str, checkpoint: Path, url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "core.ops.cli", "backfill", source, "--target", "gcp", "--out", dest, "--sizes", SIZES,
        "--sink-option", f"url={url}", "--checkpoint", str(checkpoint), "--checkpoint-every", "0.05", "--json",
        "--no-progress", "--delete-orphans", "--workers", "4", "--batch", "8", *extra,
    ]  # fmt: skip


def environment(fake_gcs: FakeGcs) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("THUMBS_", "GOOGLE_"))}
    env.update(PYTHONPATH=str(ROOT), STORAGE_EMULATOR_HOST=fake_gcs.url, GOOGLE_CLOUD_PROJECT=PROJECT)
    return env


def complete_keys(source: GcsStorage, dest: GcsStorage, config: Config) -> set[str]:
    """Sources whose every thumbnail renders their current generation with these settings (GCS lists metadata)."""
    thumbs = {info.key: info.metadata for info in dest.list()}
    done = set()
    for info in source.list():
        fmt = output_format(config, info.key)
        if all(
            thumb in thumbs
            and decode_meta_value(thumbs[thumb].get(META_SOURCE_REVISION, "")) == info.revision
            and thumbs[thumb].get(META_PARAMS) == digest(config, fmt, box)
            for box, thumb in output_keys(config, info.key).items()
        ):
            done.add(info.key)
    return done


def wait_until_quiet(dest: GcsStorage) -> None:
    """Posts in flight when the CLI died still finish on the server: wait until the destination stops changing."""
    previous: set[tuple[str, str]] = set()
    for _ in range(100):
        now = {(info.key, info.etag) for info in dest.list()}
        if now == previous:
            return
        previous = now
        time.sleep(0.3)
    raise AssertionError("the destination kept changing")


# -- the message -------------------------------------------------------------------------


def test_post_is_the_finalized_cloud_event_the_entrypoint_parses_back() -> None:
    for key in TRICKY:
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


@pytest.fixture
def buckets(gcs_new_bucket: Callable[[str], str]) -> tuple[str, str]:
    return gcs_new_bucket("src"), gcs_new_bucket("thumbs")


@pytest.fixture
def function(gcp_function_server: Callable[..., FunctionServer], buckets: tuple[str, str]) -> FunctionServer:
    return gcp_function_server(
        "handle_cloud_event", "cloudevent", {"THUMBS_DEST_BUCKET": buckets[1], "THUMBS_SIZES": SIZES}
    )


def test_killed_fan_out_resumes_and_ends_with_one_correct_set_per_image(
    buckets: tuple[str, str], function: FunctionServer, gcs_client: Any, fake_gcs: FakeGcs, tmp_path: Path
) -> None:
    source_name, dest_name = buckets
    source, dest = GcsStorage(source_name, client=gcs_client), GcsStorage(dest_name, client=gcs_client)
    config = load_config({"THUMBS_DEST_BUCKET": dest_name, "THUMBS_SIZES": SIZES})
    keys = sources()
    body = jpeg_bytes(96, 72)
    for key in keys:
        source.put(key, body, content_type="image/jpeg")

    # Some thumbnails exist already: current ones, stale ones (the original changed since) and orphans.
    current, stale, gone = keys[5:8], keys[40:42], ["gone/old 1.jpg", "gone/old 2.jpg"]
    for key in gone:
        source.put(key, body, content_type="image/jpeg")
    setup = CloudEventSink(function.url, workers=2)
    try:
        infos = [source.head(key) for key in current + stale + gone]
        events = [ObjectEvent.created(source_name, i.key, size=i.size, etag=i.etag, version=i.version) for i in infos]
        assert setup.send(events).accepted == tuple(range(len(events)))
    finally:
        setup.close()
    for key in stale:
        source.put(key, jpeg_bytes(90, 70), content_type="image/jpeg")
    for key in gone:
        source.delete(key)
    orphans = {thumb for key in gone for thumb in output_keys(config, key).values()}
    assert orphans <= {info.key for info in dest.list()}

    env, checkpoint = environment(fake_gcs), tmp_path / "gcp.checkpoint.json"
    command = cli(source_name, dest_name, checkpoint, function.url)
    dry = subprocess.run([*command, "--dry-run"], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["missing"], plan["stale"], plan["current"], plan["orphaned"]) == (
        COUNT - len(current) - len(stale), len(stale), len(current), len(orphans),
    )  # fmt: skip
    assert complete_keys(source, dest, config) == set(current)  # a dry run renders nothing

    # Paced at 60 items/s so the kill lands half-way; start_new_session: killed by its process group id.
    first = subprocess.Popen(
        [*command, "--rate", "60"], cwd=tmp_path, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_progress(first, checkpoint, at_least=COUNT // 3)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    saved = json.loads(checkpoint.read_text())
    assert saved["finished"] is False
    mark = saved["last_key"]
    wait_until_quiet(dest)
    done = complete_keys(source, dest, config)
    assert {key for key in keys if key <= mark} <= done  # the checkpoint never runs ahead of the renders
    assert not orphans & {info.key for info in dest.list()}  # orphans are deleted by the CLI itself
    unfinished = sorted(set(keys) - done)
    assert unfinished and all(key > mark for key in unfinished)

    # The dry run of the resumed job counts exactly what the resumed run then sends.
    ahead = subprocess.run([*command, "--dry-run", "--resume"], cwd=tmp_path, env=env, text=True,
                           capture_output=True, timeout=60)  # fmt: skip
    ahead_plan = json.loads(ahead.stdout)
    assert ahead_plan["missing"] + ahead_plan["stale"] == len(unfinished)
    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_after"] == mark
    assert summary["skipped_before_checkpoint"] == len([key for key in keys if key <= mark])
    assert (summary["sent"], summary["dead_lettered"]) == (len(unfinished), 0)
    assert json.loads(checkpoint.read_text())["finished"] is True

    expected = {thumb for key in keys for thumb in output_keys(config, key).values()}
    assert {info.key for info in dest.list()} == expected  # one set per image, no orphan left
    assert complete_keys(source, dest, config) == set(keys)
    final = subprocess.run([*command, "--dry-run"], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60)
    report = json.loads(final.stdout)
    assert (report["missing"], report["stale"], report["orphaned"], report["current"]) == (0, 0, 0, COUNT)
    for key in [*TRICKY, *stale]:  # and the pixels are right: odd names and the changed originals
        for box, thumb in output_keys(config, key).items():
            image = open_bytes(dest.get(thumb).body)
            assert image.format == "JPEG" and max(image.width / box.width, image.height / box.height) > 0.99
    # A post cut short by the SIGKILL reaches functions-framework without its body (Cloud Run's front end
    # would not forward it): it is acknowledged as malformed, never answered 2xx, so the resumed run resent it.
    errors = [r for r in function.records() if r.get("severity") == "ERROR"]
    assert len(errors) <= 4 and all(r["error_kind"] == "malformed_event" for r in errors), function.output()[-2000:]


def test_make_sink_needs_a_url_and_checks_its_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import argparse

    from providers.gcp.backfill import make_sink

    monkeypatch.delenv("THUMBS_BACKFILL_URL", raising=False)
    with pytest.raises(ConfigError, match="THUMBS_BACKFILL_URL"):
        make_sink(argparse.Namespace(sink_options={}, workers=2))
    with pytest.raises(ConfigError, match="not both"):
        make_sink(argparse.Namespace(sink_options={"url": "https://f", "id_token": "a", "id_token_file": "b"}))
    with pytest.raises(ConfigError, match="cannot read the identity token file"):
        make_sink(argparse.Namespace(sink_options={"url": "https://f", "id_token_file": str(tmp_path / "none")}))
    with pytest.raises(ConfigError, match="unknown --sink-option queue_url"):
        make_sink(argparse.Namespace(sink_options={"queue_url": "x"}))


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
