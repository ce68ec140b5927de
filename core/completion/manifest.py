"""The manifest: one JSON object per source, next to its thumbnails (``THUMBS_MANIFEST=true``).

It holds what the *ready* event holds (source, outputs with sizes, types, revisions and URLs) plus
placeholders (BlurHash, dominant colour, LQIP), so a page can lay out and paint an image before
its thumbnail arrives. It is polythumb's own output, exactly like a thumbnail: it carries the
``polythumb_source`` marker (the loop guard skips it, deletes and the backfill find it), its
metadata names the source revision and a digest of the settings (a redelivery leaves a current
manifest alone; a new revision or new settings rewrite it), and it is written with the same
conditional put, so a slow worker cannot replace a newer manifest.

A pre-signed URL in a stored manifest expires (``urls_expire``); consumers that need a URL later
should sign again, or use ``THUMBS_URL_MODE=public``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any

from core import __version__
from core.completion.events import output_data, settings_digest
from core.completion.naming import MANIFEST_BOX, MANIFEST_KEY_FIX, legacy_manifest_key, manifest_key
from core.completion.placeholders import BLURHASH_COMPONENTS, placeholders_of
from core.completion.urls import UrlBuilder
from core.config import Config
from core.errors import OutputConflict, PreconditionFailed, StorageError, SupersededError
from core.events import ObjectEvent
from core.keys import (
    META_BOX,
    META_PARAMS,
    META_SOURCE,
    META_SOURCE_BUCKET,
    META_SOURCE_REVISION,
    META_VERSION,
    encode_meta_value,
)
from core.outcome import Action, OutputRecord
from core.ownership import Owner, Ownership, SourceExists, SourceRef, ownership, refusal
from core.storage.port import ObjectInfo, Storage, head_or_none

CONTENT_TYPE = "application/json"
MANIFEST_VERSION = 1
#: What to change when a manifest key is taken (the ``output_conflict`` message says it).


@dataclass(frozen=True)
class ManifestState:
    """The manifest key of one source, what it holds before the work, and whose that is (read once)."""

    key: str
    info: ObjectInfo | None
    verdict: Ownership


def manifest_params(config: Config, source_key: str) -> str:
    """Digest of everything that changes a manifest besides the source: outputs, URLs, placeholders."""
    parts = (settings_digest(config, source_key), config.url_mode, config.public_base_url or "",
             str(config.url_ttl), f"{BLURHASH_COMPONENTS}", str(MANIFEST_VERSION))  # fmt: skip
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def manifest_metadata(config: Config, *, bucket: str, source_key: str, revision: str) -> dict[str, str]:
    """The user metadata of a manifest: a thumbnail's marker, its own box and params."""
    return {
        META_SOURCE: encode_meta_value(source_key),
        META_SOURCE_BUCKET: encode_meta_value(bucket),
        META_SOURCE_REVISION: encode_meta_value(revision),
        META_BOX: MANIFEST_BOX,
        META_PARAMS: manifest_params(config, source_key),
        META_VERSION: __version__,
    }


class Manifests:
    """Reads, writes and deletes the manifests of one configuration (the pipeline's hook)."""

    def __init__(self, config: Config, *, urls: UrlBuilder | None = None) -> None:
        self.config = config
        self.urls = urls or UrlBuilder(config)

    def look(self, dest: Storage, event: ObjectEvent, *, dest_bucket: str, exists: SourceExists) -> ManifestState:
        """The manifest's state for ``event``'s source.

        Raises:
            OutputConflict: the key is the source itself, holds an object polythumb did not write, or
                holds the manifest of another source that still exists (``exists`` looks it up).
        """
        key = manifest_key(self.config, event.key)
        if dest_bucket == event.bucket and key == event.key:
            raise OutputConflict(f"THUMBS_MANIFEST_KEY maps {key!r} onto itself; refusing to overwrite the original")
        info = head_or_none(dest, key)
        verdict = ownership(info, bucket=event.bucket, source_key=event.key, exists=exists)
        if not verdict.replaceable:
            raise refusal(verdict, location=f"{dest_bucket}/{key}", claimant=SourceRef(event.bucket, event.key),
                          fix=MANIFEST_KEY_FIX)  # fmt: skip
        return ManifestState(key, info, verdict)

    def is_current(self, state: ManifestState, *, source_key: str, revision: str) -> bool:
        """Whether the manifest is ``source_key``'s and describes ``revision`` with today's settings."""
        return state.verdict.renders(revision, manifest_params(self.config, source_key))
    def unchanged(self, state: ManifestState) -> OutputRecord | None:
        """The record of a manifest left as it is."""
        if state.info is None:
            return None
        return OutputRecord(key=state.key, box=MANIFEST_BOX, action=Action.UNCHANGED, content_type=CONTENT_TYPE,
                            bytes=state.info.size, revision=state.info.revision)  # fmt: skip

    def write(
        self,
        dest: Storage,
        state: ManifestState,
        *,
        event: ObjectEvent,
        revision: str,
        size: int | None,
        outputs: Sequence[OutputRecord],
        thumbnail: bytes | None,
    ) -> OutputRecord:
        """Write the manifest after the thumbnails; return its record.

        Raises:
            SupersededError: the manifest changed meanwhile to something other than this render.
        """
        outputs = fill_dimensions(dest, outputs, manifest=state.key if state.info is not None else None)
        if thumbnail is None:  # nothing rendered now (only the manifest was missing): use a stored thumbnail
            smallest = min(outputs, key=lambda r: (r.width or 0) * (r.height or 0))
            thumbnail = dest.get(smallest.key).body
        document = self.document(dest, event=event, revision=revision, size=size, outputs=outputs, thumbnail=thumbnail)
        body = json.dumps(document, ensure_ascii=False, indent=1).encode()
        metadata = manifest_metadata(self.config, bucket=event.bucket, source_key=event.key, revision=revision)
        try:
            info = dest.put(
                state.key, body, content_type=CONTENT_TYPE, cache_control="no-cache", metadata=metadata,
                if_match=state.info.revision if state.info else None, if_none_match=state.info is None,
            )  # fmt: skip
        except PreconditionFailed as exc:
            found = head_or_none(dest, state.key)
            current = ManifestState(state.key, found, ownership(found, bucket=event.bucket, source_key=event.key))
            if self.is_current(current, source_key=event.key, revision=revision):
                record = self.unchanged(current)
                assert record is not None
                return record
            raise SupersededError(f"{state.key} changed while {event.key} was rendered; a retry reconciles") from exc
        record = OutputRecord(key=state.key, box=MANIFEST_BOX, action=Action.WRITTEN, content_type=CONTENT_TYPE,
                              bytes=len(body), revision=info.revision)  # fmt: skip
        if state.info is None:  # the first manifest at this key: one left at the old default key goes
            self.retire_legacy(dest, event)
        return record

    def document(
        self,
        dest: Storage,
        *,
        event: ObjectEvent,
        revision: str,
        size: int | None,
        outputs: Sequence[OutputRecord],
        thumbnail: bytes,
    ) -> dict[str, Any]:
        """The manifest's JSON object (``$defs/manifest`` of the shipped schema)."""
        links = self.urls.links(dest, [r.key for r in outputs])
        document: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "status": "ready",
            "source": {"bucket": event.bucket, "key": event.key, "revision": revision, "size": size},
            "outputs": [output_data(r, bucket=dest.bucket, url=links.urls[r.key]) for r in outputs],
            "placeholders": placeholders_of(thumbnail).to_dict(),
            "generator": f"polythumb/{__version__}",
        }
        if links.expires is not None:  # the first signed URL to stop working (a signer may cut the TTL short)
            expires = links.expires.astimezone(UTC).replace(microsecond=0)
            document["urls_expire"] = expires.isoformat(timespec="seconds").replace("+00:00", "Z")
        return document

    def key(self, event: ObjectEvent) -> str:
        """The manifest key of ``event``'s source."""
        return manifest_key(self.config, event.key)

    def retire_legacy(self, dest: Storage, event: ObjectEvent) -> OutputRecord | None:
        """Delete the manifest of ``event``'s source at the old default key (``{dir}/{stem}.thumbs.json``).

        Only a manifest that names this source goes: another source sharing the old key keeps its own.
        None when there is no old key (a chosen THUMBS_MANIFEST_KEY) or nothing of this source there.
        """
        key = legacy_manifest_key(self.config, event.key)
        info = head_or_none(dest, key) if key is not None else None
        if key is None or info is None or info.metadata.get(META_BOX) != MANIFEST_BOX:
            return None
        if ownership(info, bucket=event.bucket, source_key=event.key).owner is not Owner.THIS:
            return None
        dest.delete(key)
        return OutputRecord(key=key, box=MANIFEST_BOX, action=Action.DELETED, revision=info.revision)


def fill_dimensions(
    store: Storage, outputs: Sequence[OutputRecord], *, manifest: str | None = None
) -> tuple[OutputRecord, ...]:
    """The outputs with width and height, measured for those whose record lacks them; no request when none does.

    Every thumbnail written records its measured size in its metadata (``polythumb_dimensions``), so the
    pipeline's records have it, also for the outputs it found unchanged. Only a thumbnail written before
    that was recorded (by an earlier version) lacks it: its size comes from the previous manifest when it
    lists the same output revision (one read), else from the thumbnail's header (one small read each).
    """
    missing = [r for r in outputs if r.width is None and r.action in (Action.WRITTEN, Action.UNCHANGED)]
    if not missing:
        return tuple(outputs)
    known: dict[str, tuple[int, int, str | None]] = {}
    if manifest is not None:
        try:
            listed = json.loads(store.get(manifest).body).get("outputs", [])
            known = {o["key"]: (int(o["width"]), int(o["height"]), o.get("revision")) for o in listed}
        except (StorageError, ValueError, KeyError, TypeError, AttributeError):
            known = {}  # unreadable or foreign: read the thumbnails instead
    filled = []
    for record in outputs:
        entry = known.get(record.key)
        if record not in missing:
            filled.append(record)
        elif entry is not None and record.revision is not None and entry[2] == record.revision:
            filled.append(replace(record, width=entry[0], height=entry[1]))
        else:
            filled.append(_measured(store, record))
    return tuple(filled)


def _measured(store: Storage, record: OutputRecord) -> OutputRecord:
    from PIL import Image

    stored = store.get(record.key)
    with Image.open(io.BytesIO(stored.body)) as image:  # the header only: no pixels are decoded
        width, height = image.size
    return replace(
        record,
        width=width,
        height=height,
        bytes=stored.info.size,
        content_type=record.content_type or stored.info.content_type,
        revision=stored.info.revision,
    )
