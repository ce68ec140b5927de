"""The pipeline every provider shares: one :class:`ObjectEvent` in, one :class:`Outcome` out.

Created: filter -> loop guard -> idempotency -> limits -> one decode -> every
size in every format -> conditional puts. Deleted: remove the thumbnails this
source produced. The outputs are those of the key's profile
(``config.profiles``, :meth:`core.profiles.Profiles.outputs_for`; without
THUMBS_PROFILES, the one recipe of the THUMBS_* settings).

A created event runs in three steps: plan (head the source, every output and the
manifest, each object's metadata read once into its ownership verdict), render and
put (one download, one decode, the stale outputs, then the manifest), finish
(confirm the source, build the outcome). Each output written records its measured
size in its metadata, so a later event that leaves it unchanged reports its size
from the head it makes anyway.

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

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING

from core.completion.naming import MANIFEST_BOX, MANIFEST_KEY_FIX
from core.config import Config
from core.errors import (
    CopyPending,
    ImageTooLarge,
    NotFound,
    OutputConflict,
    PermanentError,
    PermissionDenied,
    PolythumbError,
    PreconditionFailed,
    SupersededError,
)
from core.events import EventKind, ObjectEvent
from core.imaging.types import CONTENT_TYPES, Box, Thumbnail
from core.keys import Provenance, is_polythumb_output
from core.outcome import Action, Outcome, OutputRecord, SkipReason, Status
from core.ownership import Owner, Ownership, SourceRef, ownership, refusal
from core.prefixes import delete_outputs_under
from core.profiles import Output
from core.storage.port import ObjectInfo, Storage, head_or_none

if TYPE_CHECKING:  # loaded with THUMBS_MANIFEST only
    from core.completion.manifest import Manifests, ManifestState
    from core.completion.urls import UrlBuilder

#: Opens the store for a bucket/container name. Providers pass their adapter's factory.
BucketOpener = Callable[[str], Storage]

#: Most signed ad-hoc outputs one delete removes (a listing of the source's ad-hoc prefix); more stay as orphans.
MAX_ADHOC_DELETES = 1000

#: What to change when a thumbnail's key is taken (the ``output_conflict`` message says it).
KEY_TEMPLATE_FIX = "change THUMBS_KEY_TEMPLATE (or the profile's key_template) or THUMBS_DEST_BUCKET"


class _Now(Enum):
    """The source, read again after its outputs were stored."""

    SAME = "same"  # still the revision rendered
    CHANGED = "changed"  # overwritten meanwhile
    GONE = "gone"  # deleted meanwhile


@dataclass(frozen=True)
class _Existing:
    """An output's state before rendering: what is at its key, and whose it is (its metadata read once)."""

    output: Output
    info: ObjectInfo | None
    verdict: Ownership

    @property
    def key(self) -> str:
        return self.output.key

    def renders(self, revision: str) -> bool:
        """Whether it is already this source's output of ``revision`` with today's settings."""
        return self.verdict.renders(revision, self.output.params)

    def unchanged(self) -> OutputRecord:
        """Its record when left as it is: what the head said, and the size it recorded when it was written."""
        info, provenance = self.info, self.verdict.provenance
        dimensions = provenance.dimensions if provenance is not None else None
        fmt = self.output.format
        return OutputRecord(
            key=self.key, box=str(self.output.box), action=Action.UNCHANGED, format=fmt,
            width=dimensions[0] if dimensions else None, height=dimensions[1] if dimensions else None,
            bytes=info.size if info else None, content_type=CONTENT_TYPES[fmt],
            revision=info.revision if info else None,
        )  # fmt: skip


@dataclass(frozen=True)
class _Plan:
    """What a created event found before any work: the source as read, each output's state, the manifest's."""

    event: ObjectEvent
    source: Storage
    dest: Storage
    info: ObjectInfo  # the source's head
    existing: tuple[_Existing, ...]
    manifest: ManifestState | None  # None: no manifests (THUMBS_MANIFEST off)

    @property
    def stale(self) -> list[_Existing]:
        """The outputs to render: missing, another revision's, or rendered with other settings."""
        return [item for item in self.existing if not item.renders(self.info.revision)]


@dataclass
class _Work:
    """What a created event has stored so far, so a failure part-way knows what to withdraw.

    Attributes:
        revision: The source revision rendered (as read by the download; the head's when nothing is rendered).
        size: The source's size in bytes, as read with ``revision``.
        kept: The outputs already current, left alone.
        stored: The outputs this render put (or found put by a twin delivery), in order.
        thumbnail: The smallest rendered thumbnail (the manifest's placeholders); None when nothing was.
        warnings: What was asked but not done (an animation rendered as a still).
        manifest: The manifest's record once written (or found current).
        source_megapixels: The source's pixels in millions (one frame), once decoded.
    """

    revision: str
    size: int | None
    kept: list[OutputRecord]
    stored: list[OutputRecord] = field(default_factory=list)
    thumbnail: bytes | None = None
    warnings: tuple[str, ...] = ()
    manifest: OutputRecord | None = None
    source_megapixels: float | None = None

    @property
    def outputs(self) -> tuple[OutputRecord, ...]:
        return (*self.stored, *self.kept)


class Thumbnailer:
    """Turns object events into thumbnails, on any storage behind the port."""

    def __init__(self, config: Config, open_bucket: BucketOpener, *, urls: UrlBuilder | None = None) -> None:
        self.config = config
        self._open_bucket = open_bucket
        self._stores: dict[str, Storage] = {}
        #: The manifest hook (THUMBS_MANIFEST): written after the thumbnails, deleted with them.
        self._manifests: Manifests | None = None
        if config.manifest:
            from core.completion.manifest import Manifests

            self._manifests = Manifests(config, urls=urls)

    def store(self, bucket: str) -> Storage:
        """The (cached) store of ``bucket``."""
        if bucket not in self._stores:
            self._stores[bucket] = self._open_bucket(bucket)
        return self._stores[bucket]

    def handle(self, event: ObjectEvent, *, outputs: Sequence[Output] | None = None) -> Outcome:
        """Handle one event. Raises only :class:`core.errors.TransientError` (and bugs).

        Args:
            event: What happened to the source.
            outputs: For a created event, render exactly these instead of the key's profile outputs, and no
                manifest (a signed ad-hoc output, :mod:`core.serve_adhoc`); the same plan, limits, conditional
                puts and provenance.
        """
        started = time.perf_counter()
        seen: dict[str, ObjectInfo] = {}  # the source's info once read: a failed event names its revision
        try:
            if event.kind is EventKind.CREATED:
                outcome = self._created(event, seen, outputs)
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
        return replace(_with_duration(outcome, started), profile=self._profile_of(event))

    def _profile_of(self, event: ObjectEvent) -> str | None:
        """The profile of ``event``'s outputs (what the metrics group renders by); None when it has none, or
        when no output key can be made for it (a failed ``invalid_key``)."""
        if event.kind is EventKind.PREFIX_DELETED:
            return None
        try:
            outputs = self._outputs(event)
        except PolythumbError:
            return None
        return outputs[0].profile if outputs else None

    def _outputs(self, event: ObjectEvent) -> list[Output]:
        """The outputs of ``event``'s key. Every key polythumb would write for it (the manifest's too) is
        rendered first, so a key no store may take (a '..' segment) is refused before any request."""
        outputs = self.config.profiles.outputs_for(event.key)
        if outputs and self._manifests:
            self._manifests.key(event)
        return outputs

    # -- created ------------------------------------------------------------

    def _created(
        self, event: ObjectEvent, seen: dict[str, ObjectInfo], only: Sequence[Output] | None = None
    ) -> Outcome:
        """Plan (what is there), render and put what is stale (then the manifest), finish (confirm, announce)."""
        plan = self._plan(event, seen, only)
        if isinstance(plan, Outcome):
            return plan
        work = self._render_and_put(plan)
        if isinstance(work, Outcome):
            return work
        return self._finish(plan, work)

    def _plan(self, event: ObjectEvent, seen: dict[str, ObjectInfo], only: Sequence[Output] | None = None) -> (
        _Plan | Outcome
    ):
        """Read the source's head and every output's, and the manifest's; an outcome when there is nothing to do.

        ``only``: these outputs and no manifest, instead of the key's profile outputs and its manifest.

        Raises:
            OutputConflict: an output or manifest key holds another existing source's output, an object
                polythumb did not write, or the source itself.
        """
        outputs = self._outputs(event) if only is None else list(only)
        if not outputs:
            return _skipped(event, SkipReason.FILTERED)
        source = self.store(event.bucket)
        dest_bucket = self.config.dest_bucket or event.bucket
        dest = self.store(dest_bucket)
        if dest_bucket == event.bucket and any(output.key == event.key for output in outputs):
            raise _overwrite_refused(event.key)

        try:
            info = source.head(event.key)
        except NotFound:
            if event.raw_key and event.raw_key != event.key:  # the envelope's encoding was ambiguous
                return self._plan(replace(event, key=event.raw_key, raw_key=None), seen, only)
            return _skipped(event, SkipReason.SOURCE_MISSING)
        seen["source"] = info
        if is_polythumb_output(info.metadata):
            return _skipped(event, SkipReason.POLYTHUMB_OUTPUT)
        if info.copy_status == "pending":
            raise CopyPending(f"{event.bucket}/{event.key} is still being copied; a retry will find it complete")
        if info.copy_status in ("failed", "aborted"):
            return _skipped(event, SkipReason.COPY_FAILED)
        _check_size(info.size, self.config)

        existing = tuple(self._existing(dest, output, event) for output in outputs)
        for item in existing:  # before any work: a key of another existing source is never taken
            self._claim(item.verdict, event, location=f"{dest_bucket}/{item.key}")
        manifests, manifest = (self._manifests if only is None else None), None
        if manifests:
            manifest = manifests.look(dest, event, dest_bucket=dest_bucket, exists=self._source_exists)
        plan = _Plan(event, source, dest, info, existing, manifest)
        if plan.stale:
            return plan
        if manifests and manifest and not manifests.is_current(manifest, source_key=event.key, revision=info.revision):
            return plan  # only the manifest is missing or stale: no render
        return _skipped(event, SkipReason.UNCHANGED, outputs=tuple(item.unchanged() for item in existing),
                        revision=info.revision, size=info.size,
                        manifest=manifests.unchanged(manifest) if manifests and manifest else None)  # fmt: skip

    def _existing(self, dest: Storage, output: Output, event: ObjectEvent) -> _Existing:
        """What is at ``output``'s key now, and whose it is (another source's existence looked up)."""
        info = head_or_none(dest, output.key)
        verdict = ownership(info, bucket=event.bucket, source_key=event.key, exists=self._source_exists)
        return _Existing(output, info, verdict)

    def _render_and_put(self, plan: _Plan) -> _Work | Outcome:
        """Render every stale output from one download and put each, then the manifest.

        An outcome instead when the source went meanwhile: missing before the download, or deleted while
        the outputs were put (what this render put is withdrawn again).

        Raises:
            OutputConflict: another source won an output key meanwhile (nothing of this render stays).
            SupersededError: an output changed meanwhile (the retry reconciles).
        """
        event, dest, stale = plan.event, plan.dest, plan.stale
        kept = [item.unchanged() for item in plan.existing if item.renders(plan.info.revision)]
        work = _Work(plan.info.revision, plan.info.size, kept)
        try:
            if stale:  # else only the manifest is missing or stale: no render
                try:
                    source_object = plan.source.get(event.key)
                except NotFound:
                    return _skipped(event, SkipReason.SOURCE_MISSING)
                _check_size(source_object.info.size, self.config)
                work.revision, work.size = source_object.info.revision, source_object.info.size
                thumbnails = self._render(source_object.body, stale, work)
                for item in stale:
                    thumbnail = thumbnails[item.output.box, item.output.format]
                    work.stored.append(self._put(dest, item, thumbnail, event, work.revision))
            if self._manifests and plan.manifest:  # after the thumbnails: it never names one not yet stored
                work.manifest = self._manifests.write(
                    dest, plan.manifest, event=event, revision=work.revision, size=work.size, outputs=work.outputs,
                    thumbnail=work.thumbnail,
                )  # fmt: skip
        except OutputConflict:
            _withdraw(dest, work.stored)  # another source won the key meanwhile: nothing of this render stays
            raise
        except SupersededError:
            # A delete landing meanwhile may have removed the outputs the puts were conditioned on.
            keep = self.config.on_delete == "keep"
            if keep or self._source_now(plan.source, event.key, work.revision) is not _Now.GONE:
                raise
            return _source_deleted(event, revision=work.revision, size=work.size,
                                   outputs=_withdraw(dest, work.outputs))  # fmt: skip
        return work

    def _render(self, body: bytes, stale: Sequence[_Existing], work: _Work) -> dict[tuple[Box, str], Thumbnail]:
        """Every stale output from one decode, by ``(box, format)``; notes the smallest and the warnings."""
        from core.imaging.render import render_outputs  # Pillow loads on first render, not at import

        config = self.config
        # One profile per key: every output shares its fit and animation mode; one decode serves them all.
        first = stale[0].output
        rendered = render_outputs(
            body,
            boxes=list(dict.fromkeys(item.output.box for item in stale)),
            fit=first.fit,
            encodings=list(dict.fromkeys((o.format, o.quality, o.effort) for o in (item.output for item in stale))),
            strip_metadata=config.profiles.strip_metadata,
            max_pixels=config.max_pixels,
            animated=first.animated,
            max_frames=config.max_frames,
            max_duration=config.max_duration,
            engine=config.engine,
        )
        work.thumbnail = min(rendered.thumbnails, key=lambda t: t.width * t.height).body
        work.warnings = rendered.warnings
        work.source_megapixels = rendered.source_megapixels
        return {(thumb.box, thumb.format): thumb for thumb in rendered.thumbnails}

    def _finish(self, plan: _Plan, work: _Work) -> Outcome:
        """Confirm the source is still the revision rendered, then the outcome.

        A delete that landed while the outputs were stored found nothing (or not all) to remove: the render
        removes what it stored. A delete after this read is handled by its own event, which finds them all.

        Raises:
            SupersededError: the source was overwritten meanwhile (the retry renders the newer revision).
        """
        event = plan.event
        now = self._source_now(plan.source, event.key, work.revision)
        if now is _Now.GONE and self.config.on_delete == "delete":
            withdrawn = _withdraw(plan.dest, [*work.outputs, *([work.manifest] if work.manifest else [])])
            return _source_deleted(event, revision=work.revision, size=work.size, outputs=withdrawn)
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
            outputs=work.outputs,
            revision=work.revision,
            warnings=work.warnings,
            size=work.size,
            manifest=work.manifest,
            source_megapixels=work.source_megapixels,
        )

    def _put(self, dest: Storage, item: _Existing, thumb: Thumbnail, event: ObjectEvent, revision: str) -> OutputRecord:
        output = item.output
        metadata = Provenance.of(
            output.spec, bucket=event.bucket, source_key=event.key, revision=revision, box=output.box,
            dimensions=(thumb.width, thumb.height),
        ).to_metadata()  # fmt: skip
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
            current = self._existing(dest, output, event)
            if current.info is not None and current.renders(revision):
                return current.unchanged()
            self._claim(current.verdict, event, location=f"{dest.bucket}/{item.key}")
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

    def _claim(self, verdict: Ownership, event: ObjectEvent, *, location: str) -> None:
        """Refuse an output key that holds an object polythumb did not write, or another existing source's output.

        Raises:
            OutputConflict: naming the key, and the source that owns it.
        """
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
        if head_or_none(source, event.key) is not None:
            return _skipped(event, SkipReason.SOURCE_EXISTS)
        # Every size in every format (a pure function of the key and the profiles), then the manifest.
        targets = [OutputRecord(key=output.key, box=str(output.box), action=Action.ABSENT, format=output.format)
                   for output in outputs]  # fmt: skip
        manifests = self._manifests
        if manifests:
            targets.append(OutputRecord(key=manifests.key(event), box=MANIFEST_BOX, action=Action.ABSENT))
        found = [(target, head_or_none(dest, target.key)) for target in targets]
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
        if config.serve_adhoc:
            records += _delete_adhoc(dest, event, prefix=config.serve_adhoc_prefix)
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


def _check_size(size: int, config: Config) -> None:
    if size > config.max_bytes:
        raise ImageTooLarge(
            f"source is {size} bytes, over THUMBS_MAX_BYTES={config.max_bytes}; refused before download"
        )


def _delete_adhoc(dest: Storage, event: ObjectEvent, *, prefix: str) -> list[OutputRecord]:
    """Delete the signed ad-hoc outputs of ``event``'s deleted source (:mod:`core.serve_adhoc`): one listing of
    their prefix; only objects recording this source are deleted, at most :data:`MAX_ADHOC_DELETES`."""
    # Only with THUMBS_SERVE_ADHOC on, when load_config has already loaded the module at start: free here.
    from core.serve_adhoc import adhoc_prefix

    removed = []
    for listed in itertools.islice(dest.list(adhoc_prefix(prefix, event.key)), MAX_ADHOC_DELETES):
        info = head_or_none(dest, listed.key)  # listings may carry no metadata
        verdict = ownership(info, bucket=event.bucket, source_key=event.key)
        if verdict.owner is Owner.THIS and verdict.provenance is not None:
            dest.delete(listed.key)
            removed.append(OutputRecord(key=listed.key, box=verdict.provenance.box, action=Action.DELETED))
    return removed


def _withdraw(dest: Storage, records: Sequence[OutputRecord]) -> list[OutputRecord]:
    """Delete each object of ``records`` that is still exactly what its record names (its revision).

    An object written since (a newer render) is left alone and left out; one already gone is ``absent``.
    The port has no conditional delete: a write landing between the read and the delete is lost, a window
    of one request, as for orphan deletes.
    """
    withdrawn = []
    for record in records:
        info = head_or_none(dest, record.key)
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


def _skipped(event: ObjectEvent, reason: SkipReason, **fields: object) -> Outcome:
    return Outcome.for_event(event, Status.SKIPPED, reason=reason, **fields)


def _overwrite_refused(key: str) -> OutputConflict:
    return OutputConflict(
        f"THUMBS_KEY_TEMPLATE maps {key!r} onto itself in its own bucket; refusing to overwrite the original"
    )


def _with_duration(outcome: Outcome, started: float) -> Outcome:
    return replace(outcome, duration_ms=(time.perf_counter() - started) * 1000)
