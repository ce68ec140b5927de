"""Event Grid blob events, in both schemas, turned into :class:`core.events.ObjectEvent`.

One module decodes every envelope the Azure entrypoint sees:

* **Event Grid schema**: ``id, topic, subject, eventType, eventTime, data, dataVersion``.
* **CloudEvents 1.0 schema**: ``id, source, subject, type, time, specversion, data``.
* The objects the Functions worker hands over for either (``func.EventGridEvent``,
  ``func.CloudEvent``), and webhook bodies (a JSON *array* of events, even for one).

Container and blob path come from ``subject``:
``/blobServices/default/containers/<container>/blobs/<path>``, split once on the first ``/blobs/``
(container names cannot contain it; the path may contain ``/`` and even ``/blobs/``). Event Grid
puts the blob name in the subject **as stored, not URL-encoded** (``data.url`` is the encoded
form), so the key is used verbatim: decoding it would corrupt names holding a literal ``%``.

**Which BlobCreated events count** (``data.api``). Data Lake (hierarchical namespace) and SFTP
uploads raise BlobCreated more than once per upload; only the one that completes the content is
processed, so an image is rendered once:

=================  =========  ==========================================================
``data.api``       processed  why
=================  =========  ==========================================================
PutBlob            yes        single-shot upload: the content is complete
PutBlockList       yes        block commit: the content is complete
CopyBlob           yes        a server-side copy; on a hierarchical-namespace account the event is
                              sent when the copy *starts*, so the pipeline checks the copy status
                              on head: ``pending`` is retried, ``failed``/``aborted`` skipped
FlushWithClose     yes        Data Lake: the file is flushed and closed, content complete
SftpCommit         yes        SFTP: the upload is committed
CreateFile         no         Data Lake: the empty file is created; FlushWithClose follows
SftpCreate         no         SFTP: the empty blob is created when the file is opened
SftpWrite          no         SFTP resumable uploads: a partial write; SftpCommit follows
(other / absent)   yes        unknown APIs are processed, not dropped: the core's idempotency
                              makes an extra delivery cheap, a missed thumbnail is not
=================  =========  ==========================================================

A Data Lake file written with flushes but never closed emits only ``CreateFile`` (and no
``FlushWithClose``): polythumb never sees it, by design, since its content is not final.

**Data Lake (hierarchical namespace) events**:

* ``BlobRenamed``: two events, the old name deleted (``data.sourceUrl``) and the new name created
  (``subject``), so thumbnails follow the file.
* ``DirectoryDeleted`` with ``data.recursive`` true: one prefix delete (``EventKind.PREFIX_DELETED``),
  which removes polythumb's own thumbnails of every source under the directory
  (:mod:`core.prefixes`). A non-recursive directory delete removes an empty directory: ignored.
* ``DirectoryCreated`` and ``DirectoryRenamed``: ignored. A renamed directory's files get no events of
  their own; ``polythumb backfill`` renders them and ``--delete-orphans`` removes the old thumbnails.

An event without ``subject`` is located by ``data.url`` (``https://<account>.blob|dfs.core.windows.net/
<container>/<path>``, or the emulator's path-style ``http://host:port/<account>/<container>/<path>``),
whose path is percent-encoded: it is decoded exactly once.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from core.delivery import Ignored
from core.errors import ConfigError, InvalidKey, MalformedEvent
from core.events import ObjectEvent
from core.storage.validation import check_key

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
BLOB_RENAMED = "Microsoft.Storage.BlobRenamed"
DIRECTORY_DELETED = "Microsoft.Storage.DirectoryDeleted"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"

SUBJECT_PREFIX = "/blobServices/default/containers/"
BLOBS_MARKER = "/blobs/"

#: BlobCreated ``data.api`` values: True = the content is complete (process), False = an
#: intermediate write another BlobCreated will follow (skip). Unlisted values are processed.
CREATED_APIS: Mapping[str, bool] = {
    "PutBlob": True,
    "PutBlockList": True,
    "CopyBlob": True,
    "FlushWithClose": True,
    "SftpCommit": True,
    "CreateFile": False,
    "SftpCreate": False,
    "SftpWrite": False,
}

EVENT_GRID_SCHEMA = "eventgrid"
CLOUDEVENTS_SCHEMA = "cloudevents"


@dataclass(frozen=True)
class Envelope:
    """One Event Grid event, either schema, reduced to the fields polythumb reads.

    Attributes:
        schema: ``"eventgrid"`` or ``"cloudevents"``.
        event_id: The delivery's ``id``.
        event_type: ``eventType`` or ``type``.
        subject: The event subject.
        event_time: ``eventTime`` or ``time``, ISO 8601.
        data: The ``data`` object.
        traceparent: A CloudEvents-schema event's ``traceparent`` (the distributed-tracing extension).
    """

    schema: str
    event_id: str | None
    event_type: str
    subject: str
    event_time: str | None
    data: Mapping[str, Any]
    traceparent: str | None = None


def envelope_from_mapping(raw: object) -> Envelope:
    """Read one event as JSON-decoded (either schema).

    Raises:
        MalformedEvent: when it is not an object with a type, a subject and a data object.
    """
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"an Event Grid event must be a JSON object, got {type(raw).__name__}")
    cloud = "specversion" in raw
    return _envelope(
        CLOUDEVENTS_SCHEMA if cloud else EVENT_GRID_SCHEMA,
        event_id=raw.get("id"),
        event_type=raw.get("type" if cloud else "eventType"),
        subject=raw.get("subject"),
        time=raw.get("time" if cloud else "eventTime"),
        data=raw.get("data"),
        traceparent=raw.get("traceparent") if cloud else None,
    )


#: The first azure-functions with ``func.CloudEvent``: older workers' libraries cannot hand a CloudEvents-schema
#: delivery to ``on_event_grid``, and each such event would be logged as malformed and dropped.
MIN_AZURE_FUNCTIONS = "1.25"


def require_cloud_event(functions: Any) -> None:
    """Refuse to start with an ``azure.functions`` module that has no ``CloudEvent`` class.

    Raises:
        ConfigError: the library predates :data:`MIN_AZURE_FUNCTIONS` (the message names it).
    """
    if not hasattr(functions, "CloudEvent"):
        version = getattr(functions, "__version__", "unknown")
        raise ConfigError(
            f"azure-functions {version} has no CloudEvent: CloudEvents-schema Event Grid deliveries would be "
            f"dropped; polythumb needs azure-functions >= {MIN_AZURE_FUNCTIONS} (requirements.txt pins it)"
        )


def envelope_from_host(event: object) -> Envelope:
    """Read the object the Functions worker passes to an Event Grid trigger.

    The worker decodes a CloudEvents-schema delivery into ``func.CloudEvent`` (attributes ``type``,
    ``time``, ``specversion``) and an Event Grid-schema one into ``func.EventGridEvent``
    (``event_type``, ``event_time``); both have ``id``, ``subject`` and ``get_json()``. A CloudEvent's
    extension attributes (``traceparent``) are not attributes of that object but its ``extension_attrs``
    mapping (the worker's converter puts every attribute it does not know there). A plain mapping (a raw
    event) is accepted too.

    Raises:
        MalformedEvent: when the object is neither.
    """
    if isinstance(event, Mapping):
        return envelope_from_mapping(event)
    get_json = getattr(event, "get_json", None)
    if not callable(get_json):
        raise MalformedEvent(f"not an Event Grid event: {type(event).__name__}")
    cloud = hasattr(event, "specversion")
    return _envelope(
        CLOUDEVENTS_SCHEMA if cloud else EVENT_GRID_SCHEMA,
        event_id=getattr(event, "id", None),
        event_type=getattr(event, "type" if cloud else "event_type", None),
        subject=getattr(event, "subject", None),
        time=getattr(event, "time" if cloud else "event_time", None),
        data=get_json(),
        traceparent=_extension(event, "traceparent") if cloud else None,
    )


def _extension(event: object, name: str) -> object:
    """A CloudEvent extension attribute of the worker's ``func.CloudEvent``, or None."""
    extensions = getattr(event, "extension_attrs", None)
    return extensions.get(name) if isinstance(extensions, Mapping) else None


def to_object_events(envelope: Envelope) -> list[ObjectEvent | Ignored]:
    """Turn one envelope into the core's events (two for a rename), or say why it is ignored.

    Raises:
        MalformedEvent: for a blob event whose subject or data is not what Event Grid sends.
    """
    if envelope.event_type == SUBSCRIPTION_VALIDATION:
        return [Ignored(
            "subscription_validation", envelope.event_type, envelope.event_id,
            "the Functions host answers the Event Grid validation handshake itself",
        )]  # fmt: skip
    if envelope.event_type not in (BLOB_CREATED, BLOB_DELETED, BLOB_RENAMED, DIRECTORY_DELETED):
        return [Ignored("event_type", envelope.event_type, envelope.event_id, "not an event polythumb acts on")]

    data = envelope.data
    container, key = _locate(envelope)
    fields: dict[str, Any] = {"event_id": envelope.event_id, "event_time": envelope.event_time}
    if envelope.event_type == DIRECTORY_DELETED:
        if str(data.get("recursive", "")).lower() != "true":
            return [Ignored("empty_directory", envelope.event_type, envelope.event_id,
                            f"{container}/{key} was deleted without recursion, so it was empty")]  # fmt: skip
        return [ObjectEvent.prefix_deleted(container, key, **fields)]
    if envelope.event_type == BLOB_RENAMED:
        old_url = data.get("sourceUrl")
        if not isinstance(old_url, str) or not old_url:
            raise MalformedEvent(f"{envelope.schema} event {envelope.event_id!r} (BlobRenamed) has no data.sourceUrl")
        old_container, old_key = location_from_url(old_url)
        return [ObjectEvent.deleted(old_container, old_key, **fields), ObjectEvent.created(container, key, **fields)]

    fields.update(etag=etag_of(data.get("eTag")), content_type=_text(data.get("contentType")))
    if envelope.event_type == BLOB_DELETED:
        return [ObjectEvent.deleted(container, key, **fields)]
    api = _text(data.get("api"))
    if api is not None and CREATED_APIS.get(api) is False:
        return [Ignored(
            "intermediate_write", envelope.event_type, envelope.event_id,
            f"data.api={api} is an intermediate write of {container}/{key}; the completing event follows",
            bucket=container, key=key,
        )]  # fmt: skip
    return [ObjectEvent.created(container, key, size=_size(data.get("contentLength")), **fields)]


def parse_events(raw: object) -> list[ObjectEvent | Ignored]:
    """One raw event (either schema, or a worker object) to its ObjectEvents or an Ignored."""
    return to_object_events(envelope_from_host(raw))


def parse_batch(payload: str | bytes | Sequence[object] | Mapping[str, Any]) -> list[ObjectEvent | Ignored]:
    """A webhook body: a JSON array of events (a lone object is accepted too).

    Raises:
        MalformedEvent: when the body is not JSON, not an array of objects, or holds a malformed
            blob event.
    """
    if isinstance(payload, (str, bytes)):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise MalformedEvent(f"an Event Grid delivery must be JSON: {exc}") from None
        except RecursionError:  # hostile nesting deeper than the interpreter's stack
            raise MalformedEvent("an Event Grid delivery must be JSON: nested too deeply") from None
    if isinstance(payload, Mapping):
        return parse_events(payload)
    if not isinstance(payload, Sequence) or isinstance(payload, (str, bytes)):
        raise MalformedEvent(f"an Event Grid delivery must be a JSON array of events, got {type(payload).__name__}")
    return [result for item in payload for result in parse_events(item)]


def blob_trigger_location(name: object, source_container: str | None) -> tuple[str, str]:
    """Container and key of a blob-trigger invocation, from ``InputStream.name``.

    The host sets ``name`` from the ``BlobTrigger`` metadata: the blob's path *with* its container
    (``images/photos/a b.jpg``), not URL-encoded. The trigger's binding path is the source container,
    so a name without that prefix is taken as a path inside it.

    Raises:
        MalformedEvent: when there is no name, or no way to tell the container.
    """
    if not isinstance(name, str) or not name.strip("/"):
        raise MalformedEvent("blob trigger invocation without a blob name (BlobTrigger metadata)")
    if source_container:
        prefix = source_container + "/"
        key = name[len(prefix) :] if name.startswith(prefix) else name
        if not key:
            raise MalformedEvent(f"blob trigger name {_clip(name)!r} names no blob")
        return source_container, _blob_name(key, name)
    container, sep, key = name.partition("/")
    if not sep or not container or not key:
        raise MalformedEvent(
            f"blob trigger name {_clip(name)!r} is not <container>/<path> and THUMBS_SOURCE_CONTAINER is not set"
        )
    return _container(container, name), _blob_name(key, name)


def etag_of(value: object) -> str | None:
    """An ETag without its quotes (Event Grid sends it quoted today, bare in older samples)."""
    if not isinstance(value, str) or not value.strip().strip('"'):
        return None
    return value.strip().strip('"')


def split_subject(subject: str) -> tuple[str, str]:
    """``/blobServices/default/containers/<c>/blobs/<path>`` -> ``(c, path)``, split once.

    Raises:
        MalformedEvent: naming what is missing.
    """
    if not subject.startswith(SUBJECT_PREFIX):
        raise MalformedEvent(f"blob event subject {_clip(subject)!r} does not start with {SUBJECT_PREFIX!r}")
    container, marker, path = subject[len(SUBJECT_PREFIX) :].partition(BLOBS_MARKER)
    if not marker or not container or "/" in container:
        raise MalformedEvent(
            f"blob event subject {_clip(subject)!r} is not {SUBJECT_PREFIX}<container>{BLOBS_MARKER}<path>"
        )
    if not path:
        raise MalformedEvent(f"blob event subject {_clip(subject)!r} names no blob")
    return _container(container, subject), _blob_name(path, subject)


def location_from_url(url: str) -> tuple[str, str]:
    """``(container, path)`` of a blob URL, its path percent-decoded exactly once.

    ``https://<account>.blob.core.windows.net/<container>/<path>`` (``dfs`` for Data Lake), or the
    emulator's path-style ``http://127.0.0.1:10000/<account>/<container>/<path>``.

    Raises:
        MalformedEvent: naming what is missing.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise MalformedEvent(f"blob URL {_clip(url)!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise MalformedEvent(f"blob URL {_clip(url)!r} is not an http(s) URL")
    path = parts.path.lstrip("/")
    if _path_style(host):
        path = path.partition("/")[2]  # the account comes first
    container, _slash, encoded = path.partition("/")
    if not encoded:
        raise MalformedEvent(f"blob URL {_clip(url)!r} names no blob")
    try:
        name = unquote(encoded, errors="strict")
    except UnicodeDecodeError:
        raise MalformedEvent(f"blob URL {_clip(url)!r} has percent-escapes that are not UTF-8") from None
    return _container(container, url), _blob_name(name, url)


# -- helpers -------------------------------------------------------------------------


def _locate(envelope: Envelope) -> tuple[str, str]:
    """Container and key from the subject; from ``data.url`` (or ``destinationUrl``) when there is none."""
    if envelope.subject:
        return split_subject(envelope.subject)
    url = envelope.data.get("url") or envelope.data.get("destinationUrl")
    if not isinstance(url, str) or not url:
        raise MalformedEvent(f"{envelope.schema} event {envelope.event_id!r} has neither a subject nor data.url")
    return location_from_url(url)


def _path_style(host: str) -> bool:
    """Whether a URL names the account in its path (Azurite, a custom domain-less endpoint)."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


#: What a container name in an event may look like: Azure's own rule is 3-63 lower-case letters, digits
#: and single hyphens (plus ``$root`` and ``$web``); this looser form refuses what no container can be
#: (upper case, dots, spaces, NUL, other control characters) without second-guessing the service.
_CONTAINER_CHARS = re.compile(r"\$?[a-z0-9-]{1,63}")


def _container(name: str, where: str) -> str:
    """``name`` if it is a container Blob Storage could have named, else MalformedEvent."""
    if not _CONTAINER_CHARS.fullmatch(name):
        raise MalformedEvent(f"{_clip(where)!r} names {_clip(name)!r}, which is not a blob container name")
    return name


def _blob_name(path: str, where: str) -> str:
    """``path`` if every storage backend can be asked for it (no NUL, at most 1024 bytes), else MalformedEvent."""
    try:
        return check_key(path)
    except InvalidKey as exc:
        raise MalformedEvent(f"{_clip(where)!r} names a blob no storage can hold: {exc}") from None



def _envelope(
    schema: str,
    *,
    event_id: object,
    event_type: object,
    subject: object,
    time: object,
    data: object,
    traceparent: object = None,
) -> Envelope:
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent(f"{schema} event {event_id!r} has no event type")
    if subject is None:
        subject = ""
    if not isinstance(subject, str):
        raise MalformedEvent(f"{schema} event {event_id!r} has a non-string subject")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise MalformedEvent(f"{schema} event {event_id!r} ({event_type}) has a data field that is not an object")
    if isinstance(time, datetime):
        time = time.isoformat()
    return Envelope(
        schema=schema,
        event_id=str(event_id) if event_id is not None else None,
        event_type=event_type,
        subject=subject,
        event_time=time if isinstance(time, str) else None,
        data=data,
        traceparent=traceparent if isinstance(traceparent, str) else None,
    )


def _size(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    # ASCII digits only ("²".isdigit() is true, int() refuses it), and no more than a size can have.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _clip(text: str, limit: int = 200) -> str:
    # Subjects are echoed in errors and logs; never echo an unbounded string.
    return text if len(text) <= limit else text[:limit] + "..."
