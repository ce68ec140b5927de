"""Structured results of handling one event: what the entrypoints map back to their platform."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from core.events import EventKind, ObjectEvent


class Status(StrEnum):
    """How handling one source ended."""

    OK = "ok"  # outputs written (or deleted)
    SKIPPED = "skipped"  # nothing to do; ``reason`` says why
    FAILED = "failed"  # a permanent error; ``error_kind`` classifies it; never retried
    ERROR = "error"  # not done: a transient error or a bug; the platform delivers it again (logs only)


class SkipReason(StrEnum):
    """Why nothing was done."""

    FILTERED = "filtered"  # THUMBS_INCLUDE / THUMBS_EXCLUDE
    POLYTHUMB_OUTPUT = "polythumb_output"  # loop guard: polythumb wrote this object
    UNCHANGED = "unchanged"  # every output already renders this source revision
    SOURCE_MISSING = "source_missing"  # created event, but the object is gone again
    #: Created event, but the source was deleted while its thumbnails were stored: what this render stored is
    #: removed again, and the completion event says ``deleted``.
    SOURCE_DELETED = "source_deleted"
    COPY_FAILED = "copy_failed"  # created by a server-side copy that failed or was aborted (Azure)
    SOURCE_EXISTS = "source_exists"  # deleted event, but the object exists again
    KEPT = "kept"  # THUMBS_ON_DELETE=keep
    NOT_APPLICABLE = "not_applicable"  # an event type polythumb acknowledges and ignores


class Action(StrEnum):
    """What happened to one output."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    ABSENT = "absent"
    OTHER_SOURCE = "other_source"  # a delete found another source's output at the key: left alone


@dataclass(frozen=True)
class OutputRecord:
    """One thumbnail: where it is and what it is."""

    key: str
    box: str
    action: Action
    width: int | None = None
    height: int | None = None
    format: str | None = None
    content_type: str | None = None
    bytes: int | None = None
    frames: int | None = None  # set for an animated thumbnail
    revision: str | None = None  # the output object's own etag or version, for completion events


@dataclass(frozen=True)
class Outcome:
    """The result of handling one :class:`core.events.ObjectEvent`."""

    kind: EventKind
    bucket: str
    key: str
    status: Status
    outputs: tuple[OutputRecord, ...] = ()
    reason: SkipReason | None = None
    error_kind: str | None = None
    error_message: str | None = None
    revision: str | None = None
    duration_ms: float = 0.0
    #: What was asked but not done, without failing (an animation over a limit rendered as a still).
    warnings: tuple[str, ...] = ()
    size: int | None = None  # the source's size in bytes, where it was read
    manifest: OutputRecord | None = None  # the manifest (THUMBS_MANIFEST), written, unchanged or deleted

    @classmethod
    def for_event(cls, event: ObjectEvent, status: Status, **fields: Any) -> Outcome:
        """The outcome of ``event`` (its kind, bucket and key) with ``status`` and ``fields``."""
        return cls(kind=event.kind, bucket=event.bucket, key=event.key, status=status, **fields)

    @classmethod
    def failed(
        cls,
        event: ObjectEvent,
        *,
        kind: str,
        message: str,
        duration_ms: float = 0.0,
        revision: str | None = None,
        size: int | None = None,
    ) -> Outcome:
        """The outcome of an event that ended in an error of ``kind``."""
        return cls.for_event(event, Status.FAILED, error_kind=kind, error_message=message, duration_ms=duration_ms,
                             revision=revision, size=size)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CLI's ``--json`` line, the entrypoints' log record)."""
        data = asdict(self)
        data["outputs"] = [{k: v for k, v in o.items() if v is not None} for o in data["outputs"]]
        if data["manifest"] is not None:
            data["manifest"] = {k: v for k, v in data["manifest"].items() if v is not None}
        data["duration_ms"] = round(self.duration_ms, 1)
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return {k: v for k, v in data.items() if v not in (None, ())}
