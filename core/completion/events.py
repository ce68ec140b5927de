"""Completion events: CloudEvents 1.0 (structured JSON) that read the same on every cloud and locally.

Types: ``dev.polythumb.thumbnails.ready``, ``.failed`` and ``.deleted``. ``source`` names the
bucket (``polythumb://<bucket>``), ``subject`` the source key, and ``id`` is a digest of the type,
the source and its revision, and the render settings: a redelivery that renders nothing announces
again with the same id, so consumers de-duplicate on it. ``data`` follows
``core/completion/event.schema.json`` (shipped in the package; tests validate every event against it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

from core.completion.naming import MANIFEST_BOX
from core.config import Config
from core.errors import EventTooLarge, InvalidKey
from core.events import EventKind, ObjectEvent
from core.outcome import Action, Outcome, OutputRecord, SkipReason, Status

READY = "dev.polythumb.thumbnails.ready"
FAILED = "dev.polythumb.thumbnails.failed"
DELETED = "dev.polythumb.thumbnails.deleted"
SCHEMA_FILE = "event.schema.json"
_MAX_MESSAGE = 1000  # characters of an error message in an event (ours, never image bytes)


def event_type(outcome: Outcome) -> str | None:
    """Which completion event ``outcome`` announces, if any.

    Created and rendered (or found already rendered: a redelivery re-announces) is *ready*; a permanent
    error is *failed*; thumbnails removed with their source is *deleted*, also when the source was deleted
    while they were stored (the render removed them again). Filtered keys, polythumb's own outputs,
    vanished sources and kept thumbnails announce nothing.
    """
    if outcome.status is Status.FAILED:
        return FAILED
    if outcome.reason is SkipReason.SOURCE_DELETED:
        return DELETED
    if outcome.kind is not EventKind.CREATED:  # an object, or (a directory delete) every source under a prefix
        return DELETED if outcome.status is Status.OK else None
    if outcome.status is Status.OK or outcome.reason is SkipReason.UNCHANGED:
        return READY
    return None


def settings_digest(config: Config, source_key: str) -> str:
    """What the render settings are for ``source_key``: every output's key and params digest (of its profile),
    and the manifest's key."""
    try:
        parts = [f"{output.key}={output.params}" for output in config.profiles.outputs_for(source_key)]
    except InvalidKey:  # a source no output key can be rendered for (failed as invalid_key): it has no outputs
        parts = []
    if config.manifest:
        parts.append(f"manifest={config.manifest_key}")
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]


def event_id(kind: str, *, bucket: str, key: str, revision: str, settings: str) -> str:
    """The stable id of one announcement."""
    material = "\0".join((kind, bucket, key, revision, settings))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def source_revision(outcome: Outcome, event: ObjectEvent) -> str | None:
    """The source revision an event names: the one read, else the envelope's, else (a delete) the one the
    deleted thumbnails recorded."""
    if outcome.kind is not EventKind.CREATED:
        return event.version or event.etag or outcome.revision
    return outcome.revision or event.version or event.etag


def id_revision(outcome: Outcome, event: ObjectEvent) -> str:
    """What makes an event id unique besides type, source and settings.

    A delete carries no object: its envelope's version or etag, else the delivery id (the same on every
    redelivery of one delete), else the revision the deleted thumbnails recorded (a local watch).
    """
    if outcome.kind is not EventKind.CREATED:
        return event.version or event.etag or event.event_id or outcome.revision or ""
    return source_revision(outcome, event) or ""


def source_uri(bucket: str) -> str:
    """The CloudEvent ``source`` of a bucket."""
    return "polythumb://" + quote(bucket, safe="/")


def output_data(record: OutputRecord, *, bucket: str, url: str | None) -> dict[str, Any]:
    """One output as the event (and the manifest) describe it."""
    data: dict[str, Any] = {"key": record.key, "bucket": bucket, "box": record.box}
    for name in ("width", "height", "bytes", "content_type", "revision"):
        value = getattr(record, name)
        if value is not None:
            data[name] = value
    if url is not None:
        data["url"] = url
    return data


def completion_data(
    outcome: Outcome,
    event: ObjectEvent,
    *,
    dest_bucket: str,
    urls: Mapping[str, str | None],
) -> dict[str, Any]:
    """The ``data`` of the event announcing ``outcome`` (``urls``: output key -> URL, where configured)."""
    kind = event_type(outcome)
    data: dict[str, Any] = {
        "status": {READY: "ready", FAILED: "failed", DELETED: "deleted"}.get(kind or "", "ready"),
        "kind": str(outcome.kind),  # the object event handled: a failed delete says it was a delete
        "source": {
            "bucket": outcome.bucket,
            "key": outcome.key,
            "revision": source_revision(outcome, event),
            "size": outcome.size if outcome.size is not None else event.size,
        },
        "outputs": [
            output_data(record, bucket=dest_bucket, url=urls.get(record.key))
            for record in outcome.outputs
            if (kind != DELETED or record.action is Action.DELETED) and record.box != MANIFEST_BOX
        ],
    }
    if outcome.manifest is not None and kind != DELETED:
        manifest = output_data(outcome.manifest, bucket=dest_bucket, url=urls.get(outcome.manifest.key))
        data["manifest"] = {k: v for k, v in manifest.items() if k in ("key", "bucket", "revision", "url")}
    if kind == FAILED:
        message = outcome.error_message or ""
        data["error"] = {"kind": outcome.error_kind or "error", "message": message[:_MAX_MESSAGE]}
    return data


def cloud_event(
    outcome: Outcome,
    event: ObjectEvent,
    *,
    config: Config,
    dest_bucket: str,
    urls: Mapping[str, str | None],
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The CloudEvent announcing ``outcome``, or None when it announces nothing."""
    kind = event_type(outcome)
    if kind is None:
        return None
    identity = event_id(
        kind,
        bucket=outcome.bucket,
        key=outcome.key,
        revision=id_revision(outcome, event),
        settings=settings_digest(config, outcome.key),
    )
    moment = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "specversion": "1.0",
        "id": identity,
        "source": source_uri(outcome.bucket),
        "type": kind,
        "subject": outcome.key,
        "time": moment,
        "datacontenttype": "application/json",
        "data": completion_data(outcome, event, dest_bucket=dest_bucket, urls=urls),
    }


def event_bytes(event: Mapping[str, Any]) -> bytes:
    """The one serialisation of an event: compact UTF-8 JSON (what signatures cover, what size limits count)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def fit(event: dict[str, Any], limit: int | None, *, target: str = "the target") -> dict[str, Any]:
    """``event``, or a copy small enough for ``limit`` bytes: without its outputs' URLs (``urls_omitted``).

    The manifest keeps its key and URL: a consumer finds every output's URL there. Only the URLs go: they
    are what grows an event (a pre-signed URL is 0.5 to 2 KB; a profile may have dozens of outputs).

    Raises:
        EventTooLarge: still over ``limit`` without them (a permanent error: a retry cannot shrink it).
    """
    size = len(event_bytes(event))
    if limit is None or size <= limit:
        return event
    data = dict(event["data"])
    data["outputs"] = [{k: v for k, v in output.items() if k != "url"} for output in data["outputs"]]
    data["urls_omitted"] = True
    smaller = {**event, "data": data}
    shrunk = len(event_bytes(smaller))
    if shrunk > limit:
        raise EventTooLarge(
            f"the {event['type']} event of {str(event['subject'])[:200]!r} is {shrunk} bytes even without output "
            f"URLs, over the {limit} bytes {target} takes; it is not published (fewer outputs per source, or "
            "shorter keys, make it fit)"
        )
    return smaller


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a completion event (envelope and ``data``), as shipped in the package."""
    text = resources.files("core.completion").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
