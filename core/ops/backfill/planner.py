"""The backfill plan: which sources need thumbnails and which thumbnails are orphans.

:class:`Planner` compares a source with a destination without downloading an
image, and yields one :class:`PlanEntry` per source key, in listing order:

* **missing** -- an expected output key (:meth:`core.profiles.Profiles.outputs_for`) holds
  no thumbnail of this source;
* **stale** -- every output exists, but one was rendered from another source
  revision (``polythumb_source_revision``) or with other settings
  (``polythumb_params`` differs from the output's :attr:`core.profiles.Output.params`);
* **current** -- every output exists and renders this revision with these settings;
* **orphaned** (on the entry of the source key an orphan records) -- a
  destination object carrying the ``polythumb_source`` marker whose source is
  no longer in the listing (gone, or now excluded by THUMBS_INCLUDE/EXCLUDE),
  or that is not an output of its source under the current settings (a size,
  format or profile no longer configured: :meth:`core.profiles.Profiles.outputs_for`), or whose recorded source is
  itself a thumbnail (rendered from a destination nested in the source directory, before polythumb
  recognised its outputs there). Objects without the marker are never orphans, and neither are thumbnails
  another source bucket wrote.

How, with bounded memory for millions of objects:

1. **Destination pass.** The destination is listed under the narrowest prefix
   that can hold an output (:func:`~core.ops.backfill.keyspace.dest_scan_prefix`),
   and only keys shaped like an output of the key template
   (:func:`~core.ops.backfill.keyspace.output_key_pattern`) are inspected. S3 and
   Azure listings return no metadata, so each such key costs one ``head``;
   they run on a bounded thread pool (:func:`ordered_map`, 16 threads by
   default), and listings that do carry metadata (GCS, the filesystem) cost
   none. Every thumbnail found becomes a row ``(source key, output key,
   revision, params)`` in an :class:`ExternalSorter`.
2. **Merge.** Output keys do not sort like their source keys (``a-b.jpg`` sorts
   before ``a.jpg``, yet ``a-256x256.jpg`` before ``a-b-256x256.jpg``), so the
   rows are sorted by the source key they record -- in memory up to a chunk,
   spilled to temporary files beyond it -- and merge-walked against the
   source listing, which is in key order (checked as it goes). Memory is one
   sort chunk (two when source and destination share a bucket: the keys of
   the thumbnails found are sorted too, to skip them as sources) plus the
   thread pool's window, whatever the bucket's size.

Revisions are compared as the pipeline compares them: with the source's
version where the listing reports one (GCS generations), else with its ETag.
When the listing shows no version and the recorded revision is not the ETag
(a versioned S3 bucket lists no version ids; or the source really changed),
the source is ``head``-ed on the same bounded pool to decide, so the plan
agrees with :class:`core.pipeline.Thumbnailer` (one request per such source).

Collisions: every selected source's output keys are also sorted by output key
(:class:`~core.ops.backfill.collisions.CollisionFinder`), and keys two listed
sources map to are counted and sampled (``collisions``): of those, the first
rendered owns the key and the others fail with ``output_conflict``
(:mod:`core.ownership`). Such a source is planned like any other (its key holds
no output of its own); its render reports the conflict and writes nothing.

Limits: keys the *current* template cannot produce are not inspected, so the
thumbnails of a former ``THUMBS_KEY_TEMPLATE`` are not found as orphans (run
the backfill with the old template to clean them up). When source and
destination are one bucket, thumbnails in the source listing are recognised
by their marker and are not treated as sources; so are thumbnails in any
source listing that carries metadata (a local destination nested in the
source directory).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from core.completion.manifest import manifest_params
from core.completion.naming import manifest_key
from core.config import Config
from core.errors import InvalidKey, StorageError
from core.events import ObjectEvent
from core.keys import Provenance, is_polythumb_output
from core.ops.backfill.collisions import Collision, CollisionFinder
from core.ops.backfill.concurrency import DEFAULT_IO_WORKERS, ordered_map
from core.ops.backfill.keyspace import dest_scan_prefix, output_key_pattern
from core.ops.backfill.sorting import DEFAULT_CHUNK_SIZE, ExternalSorter, Row
from core.ownership import recorded_source
from core.storage.port import ObjectInfo, Storage, head_or_none


class SourceStatus(StrEnum):
    """What a listed, selected source needs."""

    MISSING = "missing"
    STALE = "stale"
    CURRENT = "current"


class OrphanReason(StrEnum):
    """Why a thumbnail is an orphan."""

    SOURCE_MISSING = "source_missing"  # its source is not in the listing
    SOURCE_FILTERED = "source_filtered"  # its source exists but THUMBS_INCLUDE/EXCLUDE leave it out
    NOT_CONFIGURED = "not_configured"  # its source exists, but no configured size/format gives this key
    SOURCE_IS_OUTPUT = "source_is_output"  # its "source" is itself a thumbnail (a thumbnail of a thumbnail)


@dataclass(frozen=True)
class Orphan:
    """A destination object polythumb wrote that no current source explains."""

    key: str
    source_key: str
    reason: OrphanReason


@dataclass(frozen=True)
class PlanEntry:
    """Everything the plan says about one source key.

    Attributes:
        key: The source key (the orphans' recorded source key when it is not listed).
        source: The listed source; None when it is not in the listing.
        status: Missing, stale or current for a selected source; None otherwise.
        outputs: The output keys to (re)render: the missing and stale ones.
        orphans: Orphaned thumbnails recorded as derived from ``key``.
    """

    key: str
    source: ObjectInfo | None = None
    status: SourceStatus | None = None
    outputs: tuple[str, ...] = ()
    orphans: tuple[Orphan, ...] = ()

    @property
    def needs_render(self) -> bool:
        """Whether the source must be (re)rendered."""
        return self.status in (SourceStatus.MISSING, SourceStatus.STALE)

    def to_event(self, bucket: str) -> ObjectEvent:
        """The created event that makes the pipeline render this source (locally or on a cloud)."""
        info = self.source
        revision = info.revision if info else ""
        digest = hashlib.sha256(f"{bucket}\0{self.key}\0{revision}".encode()).hexdigest()[:24]
        return ObjectEvent.created(
            bucket,
            self.key,
            size=info.size if info else None,
            etag=info.etag if info else None,
            version=info.version if info else None,
            event_id=f"backfill-{digest}",  # stable per source revision: consumers may de-duplicate on it
            event_time=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the spool's line)."""
        data: dict[str, Any] = {"key": self.key}
        if self.source is not None:
            data["source"] = {"size": self.source.size, "etag": self.source.etag, "version": self.source.version}
        if self.status is not None:
            data["status"] = self.status.value
        if self.outputs:
            data["outputs"] = list(self.outputs)
        if self.orphans:
            data["orphans"] = [[o.key, o.source_key, o.reason.value] for o in self.orphans]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanEntry:
        """Inverse of :meth:`to_json`."""
        key = str(data["key"])
        source = data.get("source")
        status = data.get("status")
        return cls(
            key=key,
            source=ObjectInfo(key=key, size=int(source["size"]), etag=source["etag"], version=source["version"])
            if source
            else None,
            status=SourceStatus(status) if status else None,
            outputs=tuple(data.get("outputs", ())),
            orphans=tuple(Orphan(o[0], o[1], OrphanReason(o[2])) for o in data.get("orphans", ())),
        )


@dataclass
class PlanStats:
    """What the plan listed and requested (for the report and for cost estimates)."""

    source_listed: int = 0
    selected: int = 0
    filtered: int = 0
    polythumb_outputs: int = 0  # thumbnails found in the source listing (one bucket for both)
    invalid_keys: int = 0  # selected sources whose output keys cannot be rendered ('.' or '..' segments)
    before_checkpoint: int = 0
    dest_listed: int = 0
    dest_heads: int = 0
    source_heads: int = 0
    index_rows: int = 0
    index_runs: int = 0
    dest_prefix: str = ""
    collisions: int = 0  # output keys that two or more listed sources map to

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


# Index row fields: source key, output key, recorded revision, recorded params digest, foreign flag.
_SOURCE, _OUTPUT, _REVISION, _PARAMS, _FOREIGN = range(5)


@dataclass
class _Uncertain:
    """A source whose verdict needs its own ``head``: the listing could not settle a revision."""

    source: ObjectInfo
    missing: list[str]
    stale: list[str]
    unsure: list[tuple[str, str]]  # (output key, recorded revision)
    orphans: tuple[Orphan, ...]


@dataclass
class Planner:
    """Classify a source against a destination. Iterate :meth:`entries` once.

    Args:
        source: The store of the originals.
        dest: The store of the thumbnails (may be the same bucket).
        config: The settings the thumbnails must match.
        prefix: Only sources under this prefix (and their thumbnails) are considered.
        after: Resume point: source keys up to and including it are skipped
            (counted in ``stats.before_checkpoint``).
        io_workers: Threads for ``head`` requests.
        sort_chunk: Index rows held in memory before spilling a sorted run to disk.
        collision_sample: Colliding output keys kept in :attr:`collisions` (all are counted in ``stats``).
    """

    source: Storage
    dest: Storage
    config: Config
    prefix: str = ""
    after: str | None = None
    io_workers: int = DEFAULT_IO_WORKERS
    sort_chunk: int = DEFAULT_CHUNK_SIZE
    collision_sample: int = 10
    stats: PlanStats = field(default_factory=PlanStats)
    #: Output keys that several listed sources map to (a sample), known once :meth:`entries` is exhausted.
    collisions: list[Collision] = field(default_factory=list)

    def entries(self) -> Iterator[PlanEntry]:
        """Yield one entry per source key with something to say, in strictly increasing key order.

        Every listed, selected source gets an entry (current ones too, for the
        counts); unlisted or filtered source keys get one only when they have orphans.
        """
        same_bucket = self.source.bucket == self.dest.bucket
        chunk = self.sort_chunk
        with (
            ExternalSorter(chunk_size=chunk) as index,
            ExternalSorter(chunk_size=chunk) as own,
            CollisionFinder(sample=self.collision_sample, chunk_size=chunk) as claims,
        ):
            self._index_destination(index, own if same_bucket else None)
            self.stats.index_rows, self.stats.index_runs = len(index), index.runs
            work = self._merge(_Peekable(index.sorted()), _Peekable(own.sorted()), claims)
            # Sources the listing could not settle are head-ed on the pool; the rest pass through inline.
            for item in ordered_map(self._settle, work, workers=self.io_workers, inline=_is_entry):
                if self.after is None or item.key > self.after:
                    yield item
            claims.find()
            self.stats.collisions, self.collisions = claims.count, claims.samples

    # -- pass 1: the destination ---------------------------------------------------

    def _index_destination(self, index: ExternalSorter, own: ExternalSorter | None) -> None:
        pattern = output_key_pattern(self.config)
        self.stats.dest_prefix = dest_scan_prefix(self.config, self.prefix)

        def candidates() -> Iterator[ObjectInfo]:
            for info in self.dest.list(self.stats.dest_prefix):
                self.stats.dest_listed += 1
                if pattern.fullmatch(info.key):
                    if not info.metadata:
                        self.stats.dest_heads += 1
                    yield info

        for info in ordered_map(self._with_metadata, candidates(), workers=self.io_workers, inline=_has_metadata):
            provenance = Provenance.from_metadata(info.metadata) if info is not None else None
            if info is None or provenance is None:
                continue  # gone since the listing, or not written by polythumb: never an orphan
            if own is not None:
                own.add((info.key,))
            owner = recorded_source(info, bucket=self.source.bucket)  # the ownership rule: the source it records
            assert owner is not None
            if not owner.key.startswith(self.prefix):
                continue  # its source is outside this backfill's scope
            foreign = owner.bucket != self.source.bucket  # another bucket's source: never this plan's orphan
            index.add((owner.key, info.key, provenance.source_revision, provenance.params, "1" if foreign else ""))

    def _with_metadata(self, info: ObjectInfo) -> ObjectInfo | None:
        return info if info.metadata else head_or_none(self.dest, info.key)

    # -- pass 2: merge with the source listing ---------------------------------------

    def _merge(self, index: _Peekable, own: _Peekable, claims: CollisionFinder) -> Iterator[PlanEntry | _Uncertain]:
        previous: str | None = None
        for info in self.source.list(self.prefix):
            key = info.key
            if previous is not None and key <= previous:
                raise StorageError(
                    f"{self.source.bucket}: listing returned {key!r} after {previous!r}; the backfill needs "
                    "key order (code point order, as S3, GCS and Azure list)"
                )
            previous = key
            self.stats.source_listed += 1
            yield from self._unlisted_before(index, key)
            rows = index.take(key)
            if own.skip_to(key):
                self.stats.polythumb_outputs += 1  # one bucket for both: a thumbnail, not a source
                continue
            if is_polythumb_output(info.metadata):
                # A thumbnail in a listing that carries metadata (a destination nested in a source directory):
                # never a source. What was rendered from it (by a version without this guard) is an orphan.
                self.stats.polythumb_outputs += 1
                orphans = _orphans(rows, key, OrphanReason.SOURCE_IS_OUTPUT)
                if orphans:
                    yield PlanEntry(key, info, orphans=orphans)
                continue
            if not self.config.profiles.is_selected(key):
                self.stats.filtered += 1
                orphans = _orphans(rows, key, OrphanReason.SOURCE_FILTERED)
                if orphans:
                    yield PlanEntry(key, info, orphans=orphans)
                continue
            expected = self._expected(key)
            claims.claim(key, (output for output, _ in expected))
            if self.after is not None and key <= self.after:
                self.stats.before_checkpoint += 1
                continue
            self.stats.selected += 1
            try:
                item = self._classify(info, rows, expected)
            except InvalidKey:  # an event for it fails as invalid_key: nothing to dispatch
                self.stats.invalid_keys += 1
                continue
            if isinstance(item, _Uncertain):
                self.stats.source_heads += 1  # counted here, in one thread; the head runs on the pool
            yield item
        yield from self._unlisted_before(index, None)

    def _unlisted_before(self, index: _Peekable, key: str | None) -> Iterator[PlanEntry]:
        """Entries for recorded sources that sort before ``key`` (all when None): none of them is listed."""
        while (row := index.peek()) is not None and (key is None or row[_SOURCE] < key):
            source_key = row[_SOURCE]
            rows = index.take(source_key)
            orphans = _orphans(rows, source_key, OrphanReason.SOURCE_MISSING)
            if orphans:
                yield PlanEntry(source_key, orphans=orphans)

    def _expected(self, key: str) -> list[tuple[str, str]]:
        """``(output key, params)`` of every size in every format of the key's profile, and the manifest."""
        expected = [(output.key, output.params) for output in self.config.profiles.outputs_for(key)]
        if self.config.manifest:
            expected.append((manifest_key(self.config, key), manifest_params(self.config, key)))
        return expected

    def _classify(self, info: ObjectInfo, rows: list[Row], expected: list[tuple[str, str]]) -> PlanEntry | _Uncertain:
        by_output = {row[_OUTPUT]: row for row in rows}
        missing: list[str] = []
        stale: list[str] = []
        unsure: list[tuple[str, str]] = []
        for key, params in expected:
            row = by_output.get(key)
            if row is None:
                missing.append(key)
            elif row[_PARAMS] != params:
                stale.append(key)
            elif info.version is not None:
                if row[_REVISION] != info.version:
                    stale.append(key)
            elif row[_REVISION] != info.etag:
                unsure.append((key, row[_REVISION]))  # maybe a version id the listing does not show
        outputs = {key for key, _ in expected}
        orphans = tuple(
            Orphan(row[_OUTPUT], info.key, OrphanReason.NOT_CONFIGURED)
            for row in rows
            if row[_OUTPUT] not in outputs and not row[_FOREIGN]
        )
        if unsure:
            return _Uncertain(info, missing, stale, unsure, orphans)
        return _entry(info, missing, stale, orphans)

    def _settle(self, item: PlanEntry | _Uncertain) -> PlanEntry:
        """Settle an uncertain revision with a ``head`` of the source (runs on the I/O pool)."""
        if isinstance(item, PlanEntry):
            return item
        now = head_or_none(self.source, item.source.key)
        revision = now.revision if now is not None else None  # None: deleted since the listing (source_missing)
        stale = item.stale + [key for key, recorded in item.unsure if recorded != revision]
        return _entry(item.source, item.missing, stale, item.orphans)


def _entry(info: ObjectInfo, missing: list[str], stale: list[str], orphans: tuple[Orphan, ...]) -> PlanEntry:
    status = SourceStatus.MISSING if missing else SourceStatus.STALE if stale else SourceStatus.CURRENT
    return PlanEntry(info.key, info, status, tuple(missing + stale), orphans)


def _orphans(rows: list[Row], source_key: str, reason: OrphanReason) -> tuple[Orphan, ...]:
    # A thumbnail another source bucket wrote is that bucket's business, never ours to delete.
    return tuple(Orphan(row[_OUTPUT], source_key, reason) for row in rows if not row[_FOREIGN])


def _has_metadata(info: ObjectInfo) -> bool:
    return bool(info.metadata)


def _is_entry(item: PlanEntry | _Uncertain) -> bool:
    return isinstance(item, PlanEntry)


class _Peekable:
    """A sorted row stream with one row of look-ahead."""

    def __init__(self, rows: Iterator[Row]) -> None:
        self._rows = rows
        self._next: Row | None = next(rows, None)

    def peek(self) -> Row | None:
        return self._next

    def take(self, key: str) -> list[Row]:
        """Consume the rows whose first field is ``key`` (they are next, or there are none)."""
        taken: list[Row] = []
        while self._next is not None and self._next[0] == key:
            taken.append(self._next)
            self._next = next(self._rows, None)
        return taken

    def skip_to(self, key: str) -> bool:
        """Drop rows whose first field sorts before ``key``; consume and report one equal to it."""
        while self._next is not None and self._next[0] < key:
            self._next = next(self._rows, None)
        if self._next is not None and self._next[0] == key:
            self._next = next(self._rows, None)
            return True
        return False
