"""Deleting an orphan, after checking again that it still is one.

Minutes or hours can pass between the plan and the delete, and the live
function keeps writing meanwhile, so each orphan is re-examined just before
it goes: it must still carry the ``polythumb_source`` marker naming the same
source in this source bucket, and the reason must still hold (the source is
still absent, still filtered out, still a thumbnail itself, or the key is
still not one of its outputs). The port has no conditional delete, so a write
landing between this check and the delete is lost; the window is one request long, and the next
event for that source writes the thumbnail again.
"""

from __future__ import annotations

from enum import StrEnum

from core.completion.naming import owned_keys
from core.config import Config
from core.errors import NotFound
from core.keys import is_polythumb_output
from core.ops.backfill.planner import Orphan, OrphanReason
from core.ownership import Owner, SourceExists, SourceRef, ownership, recorded_source
from core.storage.port import ObjectInfo, Storage, head_or_none


class OrphanAction(StrEnum):
    """What happened to an orphan."""

    DELETED = "deleted"
    ABSENT = "absent"  # already gone
    KEPT = "kept"  # no longer an orphan (or no longer polythumb's): left alone


def delete_orphan(orphan: Orphan, *, source: Storage, dest: Storage, config: Config) -> OrphanAction:
    """Delete ``orphan`` from ``dest`` if it still is one."""
    info = head_or_none(dest, orphan.key)
    if info is None:
        return OrphanAction.ABSENT
    if recorded_source(info, bucket=source.bucket) != SourceRef(source.bucket, orphan.source_key):
        return OrphanAction.KEPT  # rewritten for another source since the plan (or not polythumb's)
    if not _still_orphaned(orphan, info, source=source, config=config):
        return OrphanAction.KEPT
    dest.delete(orphan.key)
    return OrphanAction.DELETED


def _still_orphaned(orphan: Orphan, info: ObjectInfo, *, source: Storage, config: Config) -> bool:
    if orphan.reason is OrphanReason.NOT_CONFIGURED:
        return orphan.key not in owned_keys(config, orphan.source_key)
    if orphan.reason is OrphanReason.SOURCE_FILTERED:
        return not config.profiles.is_selected(orphan.source_key)
    if orphan.reason is OrphanReason.SOURCE_IS_OUTPUT:  # its "source" is itself a thumbnail: still one?
        try:
            return is_polythumb_output(source.head(orphan.source_key).metadata)
        except NotFound:
            return True
    # The ownership rule: an output may go on no source's behalf only once its owner is gone (a source
    # re-uploaded since the plan wants its thumbnails again).
    return ownership(info, bucket=source.bucket, source_key=None, exists=_exists_in(source)).owner is Owner.ORPHANED


def _exists_in(source: Storage) -> SourceExists:
    def exists(bucket: str, key: str) -> bool:
        return head_or_none(source, key) is not None

    return exists
