"""The metric table's guarantees that need no cloud: one source of truth, the figures on the log line and in
``polythumb stats``, trace context, and the OpenTelemetry SDK kept off the default path. Each cloud's dashboard
and alerts: tests/providers/<cloud>/test_observability.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import registry
from core.metric_fields import milliseconds_since, parse_time
from core.metrics import ATTRIBUTES, METRICS, measure
from core.ops import observability
from core.tracing import continue_trace, parse_traceparent, parse_xray
from tests.terraform import ROOT

TABLE = {metric.name for metric in METRICS}


# -- one source of truth ------------------------------------------------------------------------------------


def test_the_generated_terraform_is_what_the_table_makes() -> None:
    """Each cloud's observability.tf is the generator's output for today's table (else: regenerate)."""
    files = observability.generated()
    offering = {name for name, spec in registry.providers().items() if spec.observability}
    assert offering and {path.parent.parent.name for path in files} == offering
    assert observability.stale() == [], "run python -m core.ops.observability"


def test_the_check_notices_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "observability.tf"
    target.write_text("# edited by hand\n")
    monkeypatch.setattr(observability, "generated", lambda: {target: "# generated\n"})
    assert observability.stale() == [target]
    assert observability.main(["--check"]) == 1


def test_attributes_are_of_bounded_cardinality() -> None:
    for metric in METRICS:
        assert set(metric.attributes) <= set(ATTRIBUTES), metric.name
        assert not {"key", "bucket", "revision", "event_id"} & {ATTRIBUTES[a].field for a in metric.attributes}
        assert (metric.kind == "counter") == (metric.value is None), metric.name


# -- the line's figures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00.123Z", datetime(2024, 5, 1, 10, 0, 0, 123000, UTC)),  # S3
        ("2024-05-01T10:00:00.1234567Z", datetime(2024, 5, 1, 10, 0, 0, 123456, UTC)),  # Event Grid ticks
        ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, UTC)),  # GCS nanoseconds
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)  # fmt: skip
def test_event_times_of_every_cloud_are_read(text: str | None, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_upload_to_ready_is_never_negative() -> None:
    later = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    assert milliseconds_since(later) == 0.0
    assert 59_000 < (milliseconds_since((datetime.now(UTC) - timedelta(minutes=1)).isoformat()) or 0) < 61_000


def test_a_backfill_event_is_not_an_upload(tmp_path: Path) -> None:
    from core.config import load_config
    from core.delivery import deliver
    from core.events import BACKFILL_ID_PREFIX, ObjectEvent
    from core.ops.runner import local_runtime
    from tests.images import jpeg_bytes

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(jpeg_bytes(64, 48))
    runtime = local_runtime(load_config({"THUMBS_DEST_BUCKET": str(tmp_path / "out")}))
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    upload = ObjectEvent.created(str(tmp_path / "src"), "a.jpg", event_time=hour_ago)
    [result] = deliver(runtime, lambda: upload).results
    assert result.outcome is not None and 3_599_000 < (result.outcome.upload_to_ready_ms or 0) < 3_700_000
    (tmp_path / "out").joinpath("a-256x256.jpg").unlink()
    backfill = ObjectEvent.created(
        str(tmp_path / "src"), "a.jpg", event_time=hour_ago, event_id=BACKFILL_ID_PREFIX + "1"
    )
    [result] = deliver(runtime, lambda: backfill).results
    assert result.outcome is not None and result.outcome.output_bytes and result.outcome.upload_to_ready_ms is None


def test_measure_reads_the_table_from_a_line() -> None:
    line = {"status": "failed", "error_kind": "too_large", "route": "sqs", "duration_ms": 12.5, "profile": "default",
            "kind": "created", "bucket": "b", "key": "k.jpg"}  # fmt: skip
    found = {m.metric: m for m in measure(line)}
    assert set(found) == {"polythumb.renders", "polythumb.render.duration"}
    assert found["polythumb.renders"].attributes == {"status": "failed", "error_kind": "too_large",
                                                     "profile": "default",
                                                     "route": "sqs"}  # fmt: skip
    assert found["polythumb.render.duration"].value == 12.5
    assert measure({**line, "notify": "failed"})[0].metric == "polythumb.notify.failures"


def test_polythumb_stats_summarises_a_log(tmp_path: Path) -> None:
    lines = [
        {"status": "ok", "kind": "created", "bucket": "b", "key": "a.jpg", "revision": "1", "event_revision": "1",
         "duration_ms": 10,
         "upload_to_ready_ms": 900, "output_bytes": 100, "profile": "default", "route": "sqs"},
        {"status": "failed", "error_kind": "not_an_image", "kind": "created", "bucket": "b", "key": "b.jpg",
         "event_revision": "e2", "duration_ms": 3, "route": "sqs"},
        {"status": "failed", "error_kind": "not_an_image", "kind": "created", "bucket": "b", "key": "b.jpg",
         "event_revision": "e2", "duration_ms": 4, "route": "sqs"},
    ]  # fmt: skip
    log = tmp_path / "log.jsonl"
    log.write_text("START RequestId: x\n" + "\n".join("2024-05-01T10:00:00Z " + json.dumps(x) for x in lines) + "\n")
    result = subprocess.run([sys.executable, "-m", "core.ops.cli", "stats", str(log), "--json"], cwd=ROOT,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["by_status"] == {"failed": 2, "ok": 1}
    assert stats["failures_by_error_kind"] == {"not_an_image": 2}
    assert stats["polythumb.upload_to_ready"]["p95"] == 900
    assert stats["polythumb.render.duration"]["p50"] == 4
    assert stats["runaway"] == {"renders_per_revision": 1, "invocations_per_upload": 2}
    text = subprocess.run([sys.executable, "-m", "core.ops.cli", "stats", str(log)], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout  # fmt: skip
    assert "not_an_image 2" in text and "upload to ready" in text


# -- trace context ----------------------------------------------------------------------------------------------


def test_traceparent_is_read_and_continued() -> None:
    parent = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert parent is not None and parent.sampled
    child = continue_trace(parent)
    assert child.trace_id == parent.trace_id and child.span_id != parent.span_id and child.sampled
    assert re.fullmatch(r"00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01", child.traceparent)
    for bad in ("", "00-0000000000000000000000000000000-b7ad6b7169203331-01", "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",
                "00-" + "0" * 32 + "-b7ad6b7169203331-01", "garbage"):  # fmt: skip
        assert parse_traceparent(bad) is None, bad
    fresh = continue_trace(None)
    assert fresh.trace_id != continue_trace(None).trace_id and len(fresh.trace_id) == 32


def test_an_xray_header_becomes_w3c() -> None:
    context = parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    assert context is not None
    assert context.traceparent == "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
    assert parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793") is None  # no parent: nothing to continue
    assert parse_xray(None) is None


def test_the_completion_event_carries_the_trace(tmp_path: Path) -> None:
    """The CloudEvents distributed-tracing extension: the upload's trace continues into the consumer's."""
    from core.config import load_config
    from core.delivery import deliver
    from core.events import ObjectEvent
    from core.ops.runner import local_runtime
    from tests.images import jpeg_bytes

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(jpeg_bytes(64, 48))
    events = tmp_path / "events.jsonl"
    config = load_config({"THUMBS_DEST_BUCKET": str(tmp_path / "out"), "THUMBS_NOTIFY": f"file:{events}"})
    runtime = local_runtime(config)
    parent = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    deliver(runtime, lambda: ObjectEvent.created(str(tmp_path / "src"), "a.jpg"), trace=parent)
    [event] = [json.loads(line) for line in events.read_text().splitlines()]
    assert event["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert not event["traceparent"].endswith("-b7ad6b7169203331-01")  # the function's own span


# -- the OpenTelemetry SDK: opt-in only ----------------------------------------------------------------------


@pytest.mark.parametrize("provider", registry.names())
def test_the_default_entrypoints_import_no_opentelemetry_module(provider: str) -> None:
    """With THUMBS_OTEL unset, a function's cold start (the cold-start probe: a fresh interpreter importing the
    entrypoint with its settings) loads nothing of OpenTelemetry, whose SDK costs hundreds of milliseconds; the
    SDK is installed here, so a stray import would show."""
    from core.reports import coldstart

    pytest.importorskip("opentelemetry.sdk")
    for module in registry.get(provider).sdk_modules:
        pytest.importorskip(module)
    probe = coldstart.measure(ROOT, provider, repeat=1)
    assert probe.error is None and probe.modules, probe.error
    # The metrics are on: the delivery writes their fields into the line (the table itself loads only where the
    # provider encodes metrics into the line, AWS's EMF), and no SDK.
    assert "core.metric_fields" in probe.modules
    assert [name for name in probe.modules if name.startswith("opentelemetry")] == []


def test_otlp_is_refused_at_start_without_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import telemetry
    from core.config import load_config
    from core.errors import ConfigError

    monkeypatch.setattr(telemetry, "REQUIRED_MODULES", ("opentelemetry_missing_for_this_test",))
    with pytest.raises(ConfigError, match=r"THUMBS_OTEL=otlp .*polythumb\[otel\]"):
        load_config({"THUMBS_OTEL": "otlp"})
    with pytest.raises(ConfigError, match="THUMBS_OTEL"):
        load_config({"THUMBS_OTEL": "zipkin"})


def test_otlp_exports_the_span_and_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """THUMBS_OTEL=otlp: the event's span (a child of the platform's trace, the one the completion event names)
    with the FaaS attributes, and the table's metrics, reach an OTLP/HTTP collector."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from core.config import load_config
    from core.delivery import deliver
    from core.events import ObjectEvent
    from core.ops.runner import local_runtime
    from tests.images import jpeg_bytes

    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "a.jpg").write_bytes(jpeg_bytes(64, 48))
        events = tmp_path / "events.jsonl"
        config = load_config({"THUMBS_DEST_BUCKET": str(tmp_path / "out"), "THUMBS_OTEL": "otlp",
                              "THUMBS_NOTIFY": f"file:{events}"})  # fmt: skip
        runtime = local_runtime(config)
        assert runtime.telemetry is not None
        parent = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        deliver(runtime, lambda: ObjectEvent.created(str(tmp_path / "src"), "a.jpg"), trace=parent)
        runtime.telemetry.shutdown()  # type: ignore[attr-defined]
    finally:
        server.shutdown()
    traces = [ExportTraceServiceRequest.FromString(body) for path, body in received if path == "/v1/traces"]
    spans = [span for request in traces for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    [span] = spans
    assert span.name == "polythumb.handle" and span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent_span_id.hex() == "b7ad6b7169203331"
    attributes = {a.key: a.value.string_value or a.value.bool_value for a in span.attributes}
    assert attributes["faas.trigger"] == "datasource" and attributes["faas.document.operation"] == "insert"
    assert attributes["faas.document.name"] == "a.jpg" and attributes["polythumb.status"] == "ok"
    [event] = [json.loads(line) for line in events.read_text().splitlines()]
    assert event["traceparent"] == f"00-{span.trace_id.hex()}-{span.span_id.hex()}-01"
    metrics = [ExportMetricsServiceRequest.FromString(body) for path, body in received if path == "/v1/metrics"]
    names = {m.name for r in metrics for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"polythumb.renders", "polythumb.render.duration", "polythumb.upload_to_ready"} - names == {
        "polythumb.upload_to_ready"  # no event time here: nothing to measure
    } and "polythumb.output.bytes" in names


def test_the_documentation_lists_the_table() -> None:
    """docs/observability.md shows every metric with its kind, unit and attributes, and the three pictures."""
    page = (ROOT / "docs" / "observability.md").read_text(encoding="utf-8")
    for metric in METRICS:
        row = next((line for line in page.splitlines() if line.startswith(f"| `{metric.name}` |")), "")
        assert f"| {metric.kind} | `{metric.unit}` |" in row, metric.name
        assert row.rstrip(" |").endswith(", ".join(f"`{a}`" for a in metric.attributes)), metric.name
    for cloud in (name for name, spec in registry.providers().items() if spec.observability):
        picture = f"images/dashboard-{cloud}.png"
        assert picture in page and (ROOT / "docs" / picture).is_file(), cloud
