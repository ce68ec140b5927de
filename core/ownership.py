"""Who an output belongs to: the one rule every writer and deleter of polythumb's objects follows.

An output (a thumbnail or a manifest) belongs to the source its :class:`~core.keys.Provenance` names:
``polythumb_source`` in ``polythumb_source_bucket`` (an output written before the bucket was recorded
belongs to that key in the source bucket at hand). Only its owner overwrites or deletes it, with one
exception: when the owner no longer exists the output is an orphan, which the source now mapping to its
key may take over, and which a directory delete or ``polythumb backfill --delete-orphans`` may remove.
An object without polythumb's marker is never overwritten or deleted.

Two sources can map to one key when the key template leaves part of the source key out (the default
``{dir}/{stem}-{width}x{height}.{ext}`` gives ``a.jpg`` and ``a.jpeg`` one thumbnail): the first one
rendered owns the key and the other fails with ``output_conflict`` naming both, until the owner is
deleted. Readers: the pipeline (:mod:`core.pipeline`: claims on create, only its own on delete), the
manifests (:mod:`core.completion.manifest`), directory deletes (:mod:`core.prefixes`), the backfill
plan and its orphan deletes (:mod:`core.ops.backfill`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from core.errors import OutputConflict
from core.keys import Provenance
from core.storage.port import ObjectInfo

#: Whether the source object ``(bucket, key)`` exists now.
SourceExists = Callable[[str, str], bool]


@dataclass(frozen=True)
class SourceRef:
    """A source object: its bucket and key."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{self.bucket}/{self.key}"


class Owner(StrEnum):
    """Whose an object at an output key is, seen from the source at hand."""

    NONE = "none"  # nothing at the key
    THIS = "this"  # rendered from the source at hand
    ORPHANED = "orphaned"  # rendered from another source, which no longer exists: may be taken over
    OTHER = "other"  # rendered from another source that exists (or that was not looked up): never touched
    FOREIGN = "foreign"  # not written by polythumb: never touched


@dataclass(frozen=True)
class Ownership:
    """The verdict on one object at an output key.

    Attributes:
        owner: Whose it is.
        source: The source it records (None when there is nothing, or polythumb did not write it).
        provenance: Its provenance (None likewise).
    """

    owner: Owner
    source: SourceRef | None = None
    provenance: Provenance | None = None

    @property
    def replaceable(self) -> bool:
        """Whether the source at hand may write the key: it is free, its own, or an orphan."""
        return self.owner in (Owner.NONE, Owner.THIS, Owner.ORPHANED)

    def renders(self, revision: str, params: str) -> bool:
        """Whether the object is the source at hand's output of ``revision`` with the settings digested as
        ``params``: nothing to redo.

        The idempotency test of the pipeline and the manifests: an output of another source never counts as
        done, even when both sources have the same revision (identical bytes give one ETag).
        """
        provenance = self.provenance
        return self.owner is Owner.THIS and provenance is not None and provenance.is_current(revision, params)


def recorded_source(info: ObjectInfo, *, bucket: str) -> SourceRef | None:
    """The source ``info`` records (an unrecorded bucket is ``bucket``); None when polythumb did not write it."""
    provenance = Provenance.from_metadata(info.metadata)
    if provenance is None:
        return None
    return SourceRef(provenance.source_bucket or bucket, provenance.source_key)


def ownership(
    info: ObjectInfo | None,
    *,
    bucket: str,
    source_key: str | None,
    exists: SourceExists | None = None,
) -> Ownership:
    """Whose the object ``info`` is, seen from source ``bucket/source_key``.

    Args:
        info: The object at the key; None when there is none.
        bucket: The source bucket at hand.
        source_key: The source asking; None for a clean-up on no source's behalf (every owner is another).
        exists: Looks up whether another source still exists (called only for an object recording
            another source). None: do not look; another source's object then counts as :attr:`Owner.OTHER`.
    """
    if info is None:
        return Ownership(Owner.NONE)
    provenance = Provenance.from_metadata(info.metadata)
    if provenance is None:
        return Ownership(Owner.FOREIGN)
    source = SourceRef(provenance.source_bucket or bucket, provenance.source_key)
    if source_key is not None and source == SourceRef(bucket, source_key):
        return Ownership(Owner.THIS, source, provenance)
    if exists is not None and not exists(source.bucket, source.key):
        return Ownership(Owner.ORPHANED, source, provenance)
    return Ownership(Owner.OTHER, source, provenance)


def refusal(
    verdict: Ownership, *, location: str, claimant: SourceRef, fix: str, deleting: bool = False
) -> OutputConflict:
    """The ``output_conflict`` of ``claimant`` meeting an object it may not touch at ``location`` (``dest/key``).

    Args:
        verdict: A :attr:`Owner.FOREIGN` or :attr:`Owner.OTHER` object.
        fix: The setting to change (``THUMBS_KEY_TEMPLATE or THUMBS_DEST_BUCKET``, ``THUMBS_MANIFEST_KEY``).
        deleting: The claimant's source was deleted (the message says what was refused).
    """
    if verdict.owner is Owner.FOREIGN:
        verb = "delete" if deleting else "overwrite"
        return OutputConflict(f"{location} holds an object polythumb did not write; refusing to {verb} it ({fix})")
    return OutputConflict(
        f"{location} belongs to {verdict.source}, which still exists, and {claimant} maps to the same key; "
        f"nothing is overwritten ({fix}: {{srcext}} or {{name}} in the template gives every source its own key)"
    )
