"""Provider-neutral object events: what every entrypoint turns its envelope into."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: The event id of every event ``polythumb backfill`` sends (on every target): its event time is when the plan
#: sent it, not an upload's.
BACKFILL_ID_PREFIX = "backfill-"


def is_backfill(event_id: str | None) -> bool:
    """Whether an event with ``event_id`` was sent by ``polythumb backfill`` (not by an upload)."""
    return bool(event_id) and str(event_id).startswith(BACKFILL_ID_PREFIX)


class EventKind(StrEnum):
    """What happened to the object."""

    CREATED = "created"
    DELETED = "deleted"
    #: A directory and everything under it was deleted at once (Data Lake ``DirectoryDeleted``,
    #: recursive): ``key`` is the directory's path, without a trailing slash.
    PREFIX_DELETED = "prefix_deleted"


@dataclass(frozen=True)
class ObjectEvent:
    """One object created (or overwritten) or deleted, or one directory deleted, in a watched bucket.

    Attributes:
        kind: Created or deleted.
        bucket: Bucket or container name.
        key: Object key, already decoded exactly once by the entrypoint.
        size: Size in bytes where the event carries it.
        etag: Entity tag without quotes, where the event carries it.
        version: S3 versionId or GCS generation, where the event carries it.
        event_id: The provider's id for the delivery, for logs and de-duplication.
        event_time: The provider's timestamp, as sent (ISO 8601).
        content_type: The object's content type, where the event carries it.
        raw_key: Where the envelope's encoding is ambiguous (S3 via EventBridge), the key exactly as
            sent. The pipeline tries it only when ``key`` is not found: one extra HEAD, only on a miss.
    """

    kind: EventKind
    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version: str | None = None
    event_id: str | None = None
    event_time: str | None = None
    content_type: str | None = None
    raw_key: str | None = None

    @classmethod
    def created(cls, bucket: str, key: str, **fields: object) -> ObjectEvent:
        """Shorthand for a created event."""
        return cls(EventKind.CREATED, bucket, key, **fields)  # type: ignore[arg-type]

    @classmethod
    def deleted(cls, bucket: str, key: str, **fields: object) -> ObjectEvent:
        """Shorthand for a deleted event."""
        return cls(EventKind.DELETED, bucket, key, **fields)  # type: ignore[arg-type]

    @classmethod
    def prefix_deleted(cls, bucket: str, prefix: str, **fields: object) -> ObjectEvent:
        """Shorthand for a recursive directory delete (``prefix`` without a trailing slash)."""
        return cls(EventKind.PREFIX_DELETED, bucket, prefix.rstrip("/"), **fields)  # type: ignore[arg-type]
