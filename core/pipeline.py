"""The pipeline every provider shares: one :class:`ObjectEvent` in, one :class:`Outcome` out.

Created: filter -> loop guard -> idempotency -> limits -> one decode -> every
size in every format -> conditional puts. Deleted: remove the thumbnails this
source produced. The outputs are those of the key's profile
(:func:`core.profiles.outputs_for`; without THUMBS_PROFILES, the one recipe of
the THUMBS_* settings).

Permanent errors (bad image, over a limit, a bad key) come back as a FAILED
outcome and are never retried. Transient errors (storage unavailable, a
concurrent writer) are raised, so the platform retries the delivery; a retry
finds finished outputs unchanged and completes the rest.

Nothing is half-written: every size is rendered before the first put, each put
is atomic, and each carries a condition on the output's revision observed
before the source was read, so a slow worker can never overwrite thumbnails of
a newer original with stale ones. A condition that fails because the output
already holds exactly this render (a write whose answer was lost and that the
SDK retried, or a duplicate delivery that won the race) counts as done rather
than costing the platform a retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.completion.manifest import Manifests
from core.completion.naming import manifest_key
from core.completion.urls import UrlBuilder
from core.config import Config
from core.errors import (
    CopyPending,
    ImageTooLarge,
    NotFound,
    OutputConflict,
    PermanentError,
    PreconditionFailed,
    SupersededError,
)
from core.events import EventKind, ObjectEvent
from core.imaging.types import CONTENT_TYPES, Thumbnail
from core.keys import Provenance, is_polythumb_output
from core.outcome import Action, Outcome, OutputRecord, SkipReason, Status
from core.prefixes import delete_outputs_under
from core.profiles import Output, outputs_for
from core.storage.port import ObjectInfo, Storage

#: Opens the store for a bucket/container name. Providers pass their adapter's factory.
BucketOpener = Callable[[str], Storage]


@dataclass(frozen=True)
class _Existing:
    """An output's state before rendering."""

    output: Output
    info: ObjectInfo | None

    @property
    def key(self) -> str:
        return self.output.key


class Thumbnailer:
    """Turns object events into thumbnails, on any storage behind the port."""

    def __init__(self, config: Config, open_bucket: BucketOpener, *, urls: UrlBuilder | None = None) -> None:
        self.config = config
        self._open_bucket = open_bucket
        self._stores: dict[str, Storage] = {}
        #: The manifest hook (THUMBS_MANIFEST): written after the thumbnails, deleted with them.
        self._manifests = Manifests(config, urls=urls) if config.manifest else None

    def store(self, bucket: str) -> Storage:
        """The (cached) store of ``bucket``."""
        if bucket not in self._stores:
            self._stores[bucket] = self._open_bucket(bucket)
        return self._stores[bucket]

    def handle(self, event: ObjectEvent) -> Outcome:
        """Handle one event. Raises only :class:`core.errors.TransientError` (and bugs)."""
        started = time.perf_counter()
        seen: dict[str, ObjectInfo] = {}  # the source's info once read: a failed event names its revision
        try:
            if event.kind is EventKind.CREATED:
                outcome = self._created(event, seen)
            elif event.kind is EventKind.PREFIX_DELETED:
                outcome = self._prefix_deleted(event)
            else:
                outcome = self._deleted(event)
        except PermanentError as exc:
            source = seen.get("source")
            outcome = Outcome.failed(
                event, kind=exc.kind, message=str(exc),
                revision=source.revision if source else None, size=source.size if source else None,
            )  # fmt: skip
        return _with_duration(outcome, started)

    def _outputs(self, event: ObjectEvent) -> list[Output]:
        """The outputs of ``event``'s key. Every key polythumb would write for it (the manifest's too) is
        rendered first, so a key no store may take (a '..' segment) is refused before any request."""
        outputs = outputs_for(self.config, event.key)
        if outputs and self._manifests:
            manifest_key(self.config, event.key)
        return outputs

    # -- created ------------------------------------------------------------

    def _created(self, event: ObjectEvent, seen: dict[str, ObjectInfo]) -> Outcome:
        config = self.config
        outputs = self._outputs(event)
        if not outputs:
            return _skipped(event, SkipReason.FILTERED)
        source = self.store(event.bucket)
        dest_bucket = config.dest_bucket or event.bucket
        dest = self.store(dest_bucket)
        if dest_bucket == event.bucket and any(output.key == event.key for output in outputs):
            raise _overwrite_refused(event.key)

        try:
            info = source.head(event.key)
        except NotFound:
            if event.raw_key and event.raw_key != event.key:  # the envelope's encoding was ambiguous
                return self._created(replace(event, key=event.raw_key, raw_key=None), seen)
            return _skipped(event, SkipReason.SOURCE_MISSING)
        seen["source"] = info
        if is_polythumb_output(info.metadata):
            return _skipped(event, SkipReason.POLYTHUMB_OUTPUT)
        if info.copy_status == "pending":
            raise CopyPending(f"{event.bucket}/{event.key} is still being copied; a retry will find it complete")
        if info.copy_status in ("failed", "aborted"):
            return _skipped(event, SkipReason.COPY_FAILED)
        _check_size(info.size, config)

        existing = [_Existing(output, _head_or_none(dest, output.key)) for output in outputs]
        for item in existing:
            if item.info is not None and not is_polythumb_output(item.info.metadata):
                raise OutputConflict(
                    f"{dest_bucket}/{item.key} holds an object polythumb did not write; refusing to overwrite it "
                    "(change THUMBS_KEY_TEMPLATE or THUMBS_DEST_BUCKET)"
                )
        stale = [item for item in existing if not _is_current(item.info, item.output, info.revision)]
        manifests = self._manifests
        manifest = manifests.look(dest, event, dest_bucket=dest_bucket) if manifests else None
        manifest_current = manifest is None or (
            manifests is not None and manifests.is_current(manifest, source_key=event.key, revision=info.revision)
        )
        if not stale and manifest_current:
            records = tuple(_unchanged_record(item) for item in existing)
            manifest_record = manifests.unchanged(manifest) if manifests and manifest else None
            return _skipped(event, SkipReason.UNCHANGED, outputs=records, revision=info.revision, size=info.size,
                            manifest=manifest_record)  # fmt: skip
        if not stale and manifests and manifest:  # only the manifest is missing or stale: no render
            written_manifest, records = manifests.write(
                dest, manifest, event=event, revision=info.revision, size=info.size,
                outputs=[_unchanged_record(item) for item in existing], thumbnail=None,
            )  # fmt: skip
            return Outcome(kind=event.kind, bucket=event.bucket, key=event.key, status=Status.OK, outputs=records,
                           revision=info.revision, size=info.size, manifest=written_manifest)  # fmt: skip

        try:
            source_object = source.get(event.key)
        except NotFound:
            return _skipped(event, SkipReason.SOURCE_MISSING)
        _check_size(source_object.info.size, config)
        revision = source_object.info.revision

        from core.imaging.render import render_outputs  # Pillow loads on first render, not at import

        # One profile per key: every output shares its fit and animation mode; one decode serves them all.
        first = stale[0].output
        rendered = render_outputs(
            source_object.body,
            boxes=list(dict.fromkeys(item.output.box for item in stale)),
            fit=first.fit,
            encodings=list(dict.fromkeys((item.output.format, item.output.quality) for item in stale)),
            strip_metadata=config.strip_metadata,
            max_pixels=config.max_pixels,
            animated=first.animated,
            max_frames=config.max_frames,
            max_duration=config.max_duration,
            engine=config.engine,
        )
        by_output = {(thumb.box, thumb.format): thumb for thumb in rendered.thumbnails}
        written = [
            self._put(dest, item, by_output[(item.output.box, item.output.format)], event, revision) for item in stale
        ]
        unchanged = [_unchanged_record(item) for item in existing if item not in stale]
        records = tuple(written + unchanged)
        manifest_record = None
        if manifests and manifest:  # after the thumbnails: a manifest never names a thumbnail not yet stored
            smallest = min(rendered.thumbnails, key=lambda t: t.width * t.height)
            manifest_record, records = manifests.write(
                dest, manifest, event=event, revision=revision, size=source_object.info.size, outputs=records,
                thumbnail=smallest.body,
            )  # fmt: skip
        return Outcome(
            kind=event.kind,
            bucket=event.bucket,
            key=event.key,
            status=Status.OK,
            outputs=records,
            revision=revision,
            warnings=rendered.warnings,
            size=source_object.info.size,
            manifest=manifest_record,
        )

    def _put(self, dest: Storage, item: _Existing, thumb: Thumbnail, event: ObjectEvent, revision: str) -> OutputRecord:
        output = item.output
        metadata = Provenance.of(
            output.spec, bucket=event.bucket, source_key=event.key, revision=revision, box=output.box
        ).to_metadata()
        try:
            stored = dest.put(
                item.key,
                thumb.body,
                content_type=thumb.content_type,
                cache_control=self.config.cache_control,
                metadata=metadata,
                if_match=item.info.revision if item.info else None,
                if_none_match=item.info is None,
            )
        except PreconditionFailed as exc:
            # The output changed since we looked. If it now holds exactly this render (the SDK retried a
            # write whose answer was lost, or a duplicate delivery of the same event won the race), the
            # work is done; anything else is a real race, for the platform's retry to settle.
            current = _head_or_none(dest, item.key)
            if (
                current is not None
                and _derived_from(current, event.bucket, event.key)
                and _is_current(current, output, revision)
            ):
                return _unchanged_record(_Existing(output, current))
            raise SupersededError(
                f"{item.key} changed while {event.key} was rendered; a retry will reconcile ({exc})"
            ) from exc
        return OutputRecord(
            key=item.key,
            box=str(output.box),
            action=Action.WRITTEN,
            width=thumb.width,
            height=thumb.height,
            format=thumb.format,
            content_type=thumb.content_type,
            bytes=len(thumb.body),
            frames=thumb.frames if thumb.frames > 1 else None,
            revision=stored.revision,
        )

    # -- deleted ------------------------------------------------------------

    def _deleted(self, event: ObjectEvent) -> Outcome:
        config = self.config
        outputs = self._outputs(event)
        if not outputs:
            return _skipped(event, SkipReason.FILTERED)
        if config.on_delete == "keep":
            return _skipped(event, SkipReason.KEPT)
        source = self.store(event.bucket)
        dest_bucket = config.dest_bucket or event.bucket
        dest = self.store(dest_bucket)
        # A delete that arrives after the key was re-created is stale: the thumbnails now belong to the new object.
        if _head_or_none(source, event.key) is not None:
            return _skipped(event, SkipReason.SOURCE_EXISTS)
        records = []
        recorded: str | None = None  # the revision the thumbnails were rendered from (names a deleted event)
        for output in outputs:  # every size in every format: a pure function of the key and the profiles
            key = output.key
            info = _head_or_none(dest, key)
            if info is None:
                records.append(OutputRecord(key=key, box=str(output.box), action=Action.ABSENT, format=output.format))
            elif _derived_from(info, event.bucket, event.key):
                provenance = Provenance.from_metadata(info.metadata)
                recorded = recorded or (provenance.source_revision if provenance else None) or None
                dest.delete(key)
                records.append(OutputRecord(key=key, box=str(output.box), action=Action.DELETED, format=output.format))
            else:
                raise OutputConflict(
                    f"{dest_bucket}/{key} was not rendered from {event.bucket}/{event.key}; refusing to delete it"
                )
        if event.raw_key and event.raw_key != event.key and all(r.action is Action.ABSENT for r in records):
            return self._deleted(replace(event, key=event.raw_key, raw_key=None))  # ambiguous encoding: try as sent
        manifest = self._manifests.delete(dest, event, derived_from=_derived_from) if self._manifests else None
        return Outcome(kind=event.kind, bucket=event.bucket, key=event.key, status=Status.OK, outputs=tuple(records),
                       revision=recorded, manifest=manifest)  # fmt: skip

    def _prefix_deleted(self, event: ObjectEvent) -> Outcome:
        if self.config.on_delete == "keep":
            return _skipped(event, SkipReason.KEPT)
        source = self.store(event.bucket)
        dest = self.store(self.config.dest_bucket or event.bucket)
        records = delete_outputs_under(self.config, source=source, dest=dest, directory=event.key)
        return Outcome(kind=event.kind, bucket=event.bucket, key=event.key, status=Status.OK, outputs=records)


# -- helpers -------------------------------------------------------------------


def _head_or_none(store: Storage, key: str) -> ObjectInfo | None:
    try:
        return store.head(key)
    except NotFound:
        return None


def _check_size(size: int, config: Config) -> None:
    if size > config.max_bytes:
        raise ImageTooLarge(
            f"source is {size} bytes, over THUMBS_MAX_BYTES={config.max_bytes}; refused before download"
        )


def _is_current(info: ObjectInfo | None, output: Output, revision: str) -> bool:
    """Whether ``info`` is ``output`` rendered from source ``revision`` with today's settings."""
    provenance = Provenance.from_metadata(info.metadata) if info is not None else None
    return provenance is not None and provenance.is_current(revision, output.params)


def _derived_from(info: ObjectInfo, bucket: str, key: str) -> bool:
    provenance = Provenance.from_metadata(info.metadata)
    return provenance is not None and provenance.derives_from(bucket, key)


def _unchanged_record(item: _Existing) -> OutputRecord:
    size = item.info.size if item.info else None
    revision = item.info.revision if item.info else None
    fmt = item.output.format
    return OutputRecord(key=item.key, box=str(item.output.box), action=Action.UNCHANGED, format=fmt, bytes=size,
                        content_type=CONTENT_TYPES[fmt], revision=revision)  # fmt: skip


def _skipped(event: ObjectEvent, reason: SkipReason, **fields: object) -> Outcome:
    return Outcome(
        kind=event.kind,
        bucket=event.bucket,
        key=event.key,
        status=Status.SKIPPED,
        reason=reason,
        **fields,  # type: ignore[arg-type]
    )


def _overwrite_refused(key: str) -> OutputConflict:
    return OutputConflict(
        f"THUMBS_KEY_TEMPLATE maps {key!r} onto itself in its own bucket; refusing to overwrite the original"
    )


def _with_duration(outcome: Outcome, started: float) -> Outcome:
    return replace(outcome, duration_ms=(time.perf_counter() - started) * 1000)
