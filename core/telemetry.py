"""The opt-in OpenTelemetry export (``THUMBS_OTEL=otlp``): each event's span and the metric table, over OTLP.

Off by default and never imported then: the SDK's documented cost on a Lambda cold start is hundreds of
milliseconds to seconds, and every cloud already reads the metrics from the log lines (:mod:`core.metrics`).
When it is on, :class:`core.runtime.FunctionRuntime` imports this module at start, and each event gets a span
(a child of the platform's trace context, the one its completion event names in ``traceparent``) with
OpenTelemetry's FaaS attributes, and each log line's measurements are recorded on instruments named as in
the table. The exporters are the standard OTLP/HTTP ones, configured by the standard ``OTEL_EXPORTER_OTLP_*``
and ``OTEL_SERVICE_NAME`` variables.

A function's container may be frozen between invocations, so nothing waits in a batch: a span is exported
when it ends, and the metrics are flushed after each event (one request each; the price of the opt-in).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from typing import Any, Protocol

from core.metric_fields import NOTIFY_FIELD
from core.metrics import METRICS, faas_attributes, measure
from core.tracing import TraceContext, continue_trace

#: What ``THUMBS_OTEL=otlp`` needs importable (the ``otel`` extra).
REQUIRED_MODULES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
#: Longest wait for one export, in seconds: a collector that hangs must not hold the event.
EXPORT_TIMEOUT = 5.0


def missing_modules() -> list[str]:
    """The modules of :data:`REQUIRED_MODULES` that cannot be imported here (found without importing them)."""
    missing = []
    for name in REQUIRED_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


class Telemetry(Protocol):
    """What the delivery path asks of a telemetry export."""

    def start(self, parent: TraceContext | None) -> TraceContext:
        """Begin one event's span (a child of ``parent``, where the platform gave one); its context."""
        ...

    def observe(self, fields: Mapping[str, Any], span: TraceContext | None) -> None:
        """One log line was written: record its measurements; the event's line ends ``span``."""
        ...


def start_telemetry(exporter: str, *, provider: str | None) -> Telemetry:
    """The export ``THUMBS_OTEL`` names (``otlp``, the only one so far)."""
    if exporter != "otlp":  # the setting's declaration accepts no other: a caller passing one is a bug
        raise ValueError(f"no telemetry exporter {exporter!r}")
    return OtlpTelemetry(provider=provider)


class OtlpTelemetry:
    """Spans and metrics through the OpenTelemetry SDK, exported over OTLP/HTTP."""

    def __init__(self, *, provider: str | None) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        from core import __version__

        attributes: dict[str, str] = {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or "polythumb",
            "service.version": __version__,
        }
        if provider:
            attributes["cloud.provider"] = provider
        resource = Resource.create(attributes)
        self._tracer_provider = TracerProvider(resource=resource)
        self._tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(timeout=EXPORT_TIMEOUT)))
        self._tracer = self._tracer_provider.get_tracer("polythumb", __version__)
        # A long interval: the reader exports when flushed after each event, not on its own schedule.
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(timeout=EXPORT_TIMEOUT), export_interval_millis=3_600_000
        )
        self._meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = self._meter_provider.get_meter("polythumb", __version__)
        self._instruments: dict[str, Any] = {
            metric.name: (
                meter.create_counter(metric.name, unit=metric.unit, description=metric.description)
                if metric.kind == "counter"
                else meter.create_histogram(metric.name, unit=metric.unit, description=metric.description)
            )
            for metric in METRICS
        }
        self._open: dict[str, Any] = {}  # span id -> the SDK's span, until the event's line ends it

    def start(self, parent: TraceContext | None) -> TraceContext:
        from opentelemetry import trace

        context = None
        if parent is not None:
            remote = trace.SpanContext(
                trace_id=int(parent.trace_id, 16),
                span_id=int(parent.span_id, 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED if parent.sampled else 0),
            )
            context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
        span = self._tracer.start_span("polythumb.handle", context=context, kind=trace.SpanKind.SERVER)
        own = span.get_span_context()
        if not own.is_valid:  # a sampler that drops the span still gives the event a context of its own
            return continue_trace(parent)
        current = TraceContext(f"{own.trace_id:032x}", f"{own.span_id:016x}", bool(own.trace_flags.sampled))
        self._open[current.span_id] = span
        return current

    def observe(self, fields: Mapping[str, Any], span: TraceContext | None) -> None:
        for measurement in measure(fields):
            instrument = self._instruments[measurement.metric]
            if hasattr(instrument, "add"):
                instrument.add(measurement.value, dict(measurement.attributes))
            else:
                instrument.record(measurement.value, dict(measurement.attributes))
        live = self._open.pop(span.span_id, None) if span is not None and NOTIFY_FIELD not in fields else None
        if live is not None:
            self._end(live, fields)
        self._meter_provider.force_flush(timeout_millis=int(EXPORT_TIMEOUT * 1000))

    def shutdown(self) -> None:
        """Export what is left and stop the exporters (a process that ends: a local run, a test)."""
        self._tracer_provider.shutdown()
        self._meter_provider.shutdown(timeout_millis=int(EXPORT_TIMEOUT * 1000))

    def _end(self, span: Any, fields: Mapping[str, Any]) -> None:
        from opentelemetry.trace import Status, StatusCode

        attributes = faas_attributes(fields)
        for name in ("status", "reason", "error_kind", "route", "profile", "revision", "event_id"):
            value = fields.get(name)
            if value is not None:
                attributes[f"polythumb.{name}"] = str(value)
        span.set_attributes(attributes)
        if fields.get("status") in ("failed", "error"):
            span.set_status(Status(StatusCode.ERROR, str(fields.get("error_kind") or "")))
        span.end()
