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

Every output belongs to one source (:mod:`core.ownership`): a key that holds
another existing source's output is refused (``output_conflict``, naming both),
and a delete removes only the deleted source's own outputs.

After storing, the source is read again: a delete that landed while the
thumbnails were written found nothing to remove, so the render removes what it
stored and announces ``deleted`` (``source_deleted``), never ``ready``; a source
overwritten meanwhile is a transient ``superseded`` error (the retry, like the
newer revision's own event, renders the newer revision).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from core.completion.manifest import MANIFEST_KEY_FIX, Manifests, ManifestState
from core.completion.naming import MANIFEST_BOX, manifest_key
from core.completion.urls import UrlBuilder
from core.config import Config
from core.errors import (
    CopyPending,
    ImageTooLarge,
    NotFound,
    OutputConflict,
    PermanentError,
    PermissionDenied,
    PreconditionFailed,
    SupersededError,
)
from core.events import EventKind, ObjectEvent
from core.imaging.types import CONTENT_TYPES, Thumbnail
from core.keys import Provenance, is_polythumb_output
from core.outcome import Action, Outcome, OutputRecord, SkipReason, Status
from core.ownership import Owner, SourceRef, ownership, refusal, renders
from core.prefixes import delete_outputs_under
from core.profiles import Output, outputs_for
from core.storage.port import ObjectInfo, Storage

#: Opens the store for a bucket/container name. Providers pass their adapter's factory.
BucketOpener = Callable[[str], Storage]

#: What to change when a thumbnail's key is taken (the ``output_conflict`` message says it).
KEY_TEMPLATE_FIX = "change THUMBS_KEY_TEMPLATE (or the profile's key_template) or THUMBS_DEST_BUCKET"


class _Now(Enum):
    """The source, read again after its outputs were stored."""

    SAME = "same"  # still the revision rendered
    CHANGED = "changed"  # overwritten meanwhile
    GONE = "gone"  # deleted meanwhile


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
        for item in existing:  # before any work: a key of another existing source is never taken
            self._claim(item.info, event, location=f"{dest_bucket}/{item.key}")
        stale = [item for item in existing if not _is_current(item.info, item.output, event, info.revision)]
        manifests = self._manifests
        exists = self._source_exists
        manifest = manifests.look(dest, event, dest_bucket=dest_bucket, exists=exists) if manifests else None
        manifest_current = manifest is None or (
            manifests is not None
            and manifests.is_current(manifest, bucket=event.bucket, source_key=event.key, revision=info.revision)
        )
        if not stale and manifest_current:
            records = tuple(_unchanged_record(item) for item in existing)
            manifest_record = manifests.unchanged(manifest) if manifests and manifest else None
            return _skipped(event, SkipReason.UNCHANGED, outputs=records, revision=info.revision, size=info.size,
                            manifest=manifest_record)  # fmt: skip
        if not stale:  # only the manifest is missing or stale: no render
            return self._store(source, dest, event, revision=info.revision, size=info.size,
                               kept=[_unchanged_record(item) for item in existing], manifest=manifest)  # fmt: skip

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
            encodings=list(dict.fromkeys((o.format, o.quality, o.effort) for o in (item.output for item in stale))),
            strip_metadata=config.strip_metadata,
            max_pixels=config.max_pixels,
            animated=first.animated,
            max_frames=config.max_frames,
            max_duration=config.max_duration,
            engine=config.engine,
        )
        by_output = {(thumb.box, thumb.format): thumb for thumb in rendered.thumbnails}
        smallest = min(rendered.thumbnails, key=lambda t: t.width * t.height)
        return self._store(
            source,
            dest,
            event,
            revision=revision,
            size=source_object.info.size,
            kept=[_unchanged_record(item) for item in existing if item not in stale],
            puts=[(item, by_output[(item.output.box, item.output.format)]) for item in stale],
            manifest=manifest,
            thumbnail=smallest.body,
            warnings=rendered.warnings,
        )

    def _store(
        self,
        source: Storage,
        dest: Storage,
        event: ObjectEvent,
        *,
        revision: str,
        size: int | None,
        kept: Sequence[OutputRecord],
        puts: Sequence[tuple[_Existing, Thumbnail]] = (),
        manifest: ManifestState | None,
        thumbnail: bytes | None = None,
        warnings: tuple[str, ...] = (),
    ) -> Outcome:
        """Put the rendered outputs, then the manifest; then confirm the source is still the revision rendered.

        ``kept``: the outputs already current; ``thumbnail``: the smallest one rendered (None: only the
        manifest is written, from a stored thumbnail).
        """
        stored: list[OutputRecord] = []  # what this render put (or found put by a twin delivery), in order
        manifest_record = None
        try:
            for item, thumb in puts:
                stored.append(self._put(dest, item, thumb, event, revision))
            records = (*stored, *kept)
            if self._manifests and manifest:  # after the thumbnails: a manifest never names a thumbnail not yet stored
                manifest_record, records = self._manifests.write(
                    dest, manifest, event=event, revision=revision, size=size, outputs=records, thumbnail=thumbnail
                )
        except OutputConflict:
            _withdraw(dest, stored)  # another source won the key meanwhile: nothing of this render stays
            raise
        except SupersededError:
            # A delete landing meanwhile may have removed the outputs the puts were conditioned on.
            if self.config.on_delete == "keep" or self._source_now(source, event.key, revision) is not _Now.GONE:
                raise
            return _source_deleted(event, revision=revision, size=size, outputs=_withdraw(dest, [*stored, *kept]))
        # A delete that landed while the outputs were stored found nothing (or not all) to remove: the render
        # removes what it stored. A delete after this read is handled by its own event, which finds them all.
        now = self._source_now(source, event.key, revision)
        if now is _Now.GONE and self.config.on_delete == "delete":
            withdrawn = _withdraw(dest, [*records, *([manifest_record] if manifest_record else [])])
            return _source_deleted(event, revision=revision, size=size, outputs=withdrawn)
        if now is _Now.CHANGED:  # never announce a stale revision as ready: the retry renders the newer one
            raise SupersededError(
                f"{event.bucket}/{event.key} was overwritten while its thumbnails were stored; a retry renders "
                "the newer revision"
            )
        return Outcome(
            kind=event.kind,
            bucket=event.bucket,
            key=event.key,
            status=Status.OK,
            outputs=tuple(records),
            revision=revision,
            warnings=warnings,
            size=size,
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
            # work is done; another existing source that won the key is a conflict; anything else is a
            # real race, for the platform's retry to settle.
            current = _head_or_none(dest, item.key)
            if _is_current(current, output, event, revision):
                assert current is not None
                return _unchanged_record(_Existing(output, current))
            self._claim(current, event, location=f"{dest.bucket}/{item.key}")
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

    def _claim(self, info: ObjectInfo | None, event: ObjectEvent, *, location: str) -> None:
        """Refuse an output key that holds an object polythumb did not write, or another existing source's output.

        Raises:
            OutputConflict: naming the key, and the source that owns it.
        """
        verdict = ownership(info, bucket=event.bucket, source_key=event.key, exists=self._source_exists)
        if not verdict.replaceable:
            raise refusal(verdict, location=location, claimant=SourceRef(event.bucket, event.key), fix=KEY_TEMPLATE_FIX)

    def _source_exists(self, bucket: str, key: str) -> bool:
        """Whether the source ``bucket/key`` exists (the owner of an output another source maps to)."""
        try:
            self.store(bucket).head(key)
        except NotFound:
            return False
        except PermissionDenied:
            return True  # another bucket this function may not read: its outputs are left alone
        return True

    def _source_now(self, source: Storage, key: str, revision: str) -> _Now:
        try:
            info = source.head(key)
        except NotFound:
            return _Now.GONE
        return _Now.SAME if info.revision == revision else _Now.CHANGED

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
        # Every size in every format (a pure function of the key and the profiles), then the manifest.
        targets = [OutputRecord(key=output.key, box=str(output.box), action=Action.ABSENT, format=output.format)
                   for output in outputs]  # fmt: skip
        manifests = self._manifests
        if manifests:
            targets.append(OutputRecord(key=manifests.key(event), box=MANIFEST_BOX, action=Action.ABSENT))
        found = [(target, _head_or_none(dest, target.key)) for target in targets]
        verdicts = [ownership(info, bucket=event.bucket, source_key=event.key) for _, info in found]
        for (target, _), verdict in zip(found, verdicts, strict=True):
            if verdict.owner is Owner.FOREIGN:  # checked before any delete: nothing half-done
                raise refusal(
                    verdict, location=f"{dest_bucket}/{target.key}", claimant=SourceRef(event.bucket, event.key),
                    fix=MANIFEST_KEY_FIX if target.box == MANIFEST_BOX else KEY_TEMPLATE_FIX, deleting=True,
                )  # fmt: skip
        if event.raw_key and event.raw_key != event.key and all(v.owner is not Owner.THIS for v in verdicts):
            return self._deleted(replace(event, key=event.raw_key, raw_key=None))  # ambiguous encoding: try as sent
        records = []
        recorded: str | None = None  # the revision the thumbnails were rendered from (names a deleted event)
        for (target, info), verdict in zip(found, verdicts, strict=True):
            if verdict.owner is Owner.THIS and info is not None:
                provenance = verdict.provenance
                recorded = recorded or (provenance.source_revision if provenance else None) or None
                dest.delete(target.key)
                revision = info.revision if target.box == MANIFEST_BOX else None
                records.append(replace(target, action=Action.DELETED, revision=revision))
            elif verdict.owner is Owner.NONE:
                records.append(target)
            else:  # another source's output at this key (the template maps both to it): it stays
                records.append(replace(target, action=Action.OTHER_SOURCE))
        manifest = records.pop() if manifests else None
        if manifests:
            manifests.retire_legacy(dest, event)
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


def _is_current(info: ObjectInfo | None, output: Output, event: ObjectEvent, revision: str) -> bool:
    """Whether ``info`` is this source's ``output`` rendered from ``revision`` with today's settings."""
    return renders(info, bucket=event.bucket, source_key=event.key, revision=revision, params=output.params)


def _withdraw(dest: Storage, records: Sequence[OutputRecord]) -> list[OutputRecord]:
    """Delete each object of ``records`` that is still exactly what its record names (its revision).

    An object written since (a newer render) is left alone and left out; one already gone is ``absent``.
    The port has no conditional delete: a write landing between the read and the delete is lost, a window
    of one request, as for orphan deletes.
    """
    withdrawn = []
    for record in records:
        info = _head_or_none(dest, record.key)
        if info is None:
            withdrawn.append(OutputRecord(key=record.key, box=record.box, action=Action.ABSENT, format=record.format))
        elif record.revision is not None and info.revision == record.revision:
            dest.delete(record.key)
            withdrawn.append(OutputRecord(key=record.key, box=record.box, action=Action.DELETED, format=record.format,
                                          revision=record.revision))  # fmt: skip
    return withdrawn


def _source_deleted(
    event: ObjectEvent,
    *,
    revision: str,
    size: int | None,
    outputs: Sequence[OutputRecord],
) -> Outcome:
    """The outcome of a render whose source was deleted meanwhile: what it stored is gone again."""
    manifest = next((o for o in outputs if o.box == MANIFEST_BOX), None)
    return _skipped(event, SkipReason.SOURCE_DELETED, outputs=tuple(o for o in outputs if o.box != MANIFEST_BOX),
                    revision=revision, size=size, manifest=manifest)  # fmt: skip


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
