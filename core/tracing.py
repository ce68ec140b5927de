"""W3C trace context: continue the platform's trace into the completion event, or start one.

A completion event carries ``traceparent`` (the CloudEvents distributed-tracing extension), so a consumer's
work joins the trace of the upload that caused it. The function is one span of that trace: its id is new,
the trace id and flags are the incoming context's, where the platform gives one (an S3 notification through
SQS has X-Ray's ``AWSTraceHeader``, Lambda's ``_X_AMZN_TRACE_ID``, Eventarc and Event Grid CloudEvents a
``traceparent`` extension), else the trace is new. No SDK: this is string handling
(https://www.w3.org/TR/trace-context/).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$")
_XRAY_ROOT = re.compile(r"^1-([0-9a-f]{8})-([0-9a-f]{24})$")
_XRAY_PARENT = re.compile(r"^[0-9a-f]{16}$")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16


@dataclass(frozen=True)
class TraceContext:
    """One span's context.

    Attributes:
        trace_id: 32 lower-case hex digits, not all zero.
        span_id: 16 lower-case hex digits, not all zero.
        sampled: The W3C ``sampled`` flag.
    """

    trace_id: str
    span_id: str
    sampled: bool = False

    @property
    def traceparent(self) -> str:
        """The ``traceparent`` header (version 00)."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self) -> TraceContext:
        """A new span of the same trace, with the same sampling decision."""
        return TraceContext(self.trace_id, _new_id(8), self.sampled)


def parse_traceparent(value: str | None) -> TraceContext | None:
    """The context a ``traceparent`` header names; None if absent or invalid (the W3C rules: never fail)."""
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or (version == "00" and len(value.strip()) != 55):
        return None
    if trace_id == _INVALID_TRACE or span_id == _INVALID_SPAN:
        return None
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & 1))


def parse_xray(value: str | None) -> TraceContext | None:
    """The context an X-Ray trace header names (``Root=1-5759e988-bd862e3fe1be46a994272793;Parent=...;Sampled=1``),
    as W3C: the root's two parts are the trace id; None without a root and a parent."""
    if not isinstance(value, str):
        return None
    parts = dict(part.strip().partition("=")[::2] for part in value.split(";") if "=" in part)
    root = _XRAY_ROOT.match(parts.get("Root", "").lower())
    parent = parts.get("Parent", "").lower()
    if root is None or not _XRAY_PARENT.match(parent):
        return None
    trace_id = root.group(1) + root.group(2)
    if trace_id == _INVALID_TRACE or parent == _INVALID_SPAN:
        return None
    return TraceContext(trace_id, parent, parts.get("Sampled") == "1")


def continue_trace(*candidates: TraceContext | None, sampled: bool = False) -> TraceContext:
    """The function's span: a child of the first incoming context, else the root of a new trace."""
    for candidate in candidates:
        if candidate is not None:
            return candidate.child()
    return TraceContext(_new_id(16), _new_id(8), sampled)


def _new_id(size: int) -> str:
    while True:
        value = os.urandom(size).hex()
        if value.strip("0"):
            return value
