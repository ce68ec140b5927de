"""Deleting an orphan, after checking again that it still is one.

Minutes or hours can pass between the plan and the delete, and the live
function keeps writing meanwhile, so each orphan is re-examined just before
it goes: it must still carry the ``polythumb_source`` marker naming the same
source in this source bucket, and the reason must still hold (the source is
still absent, still filtered out, or the key is still not one of its
outputs). The port has no conditional delete, so a write landing between this
check and the delete is lost; the window is one request long, and the next
event for that source writes the thumbnail again.
"""

from __future__ import annotations

from enum import StrEnum

from core.backfill.plan import Orphan, OrphanReason
from core.config import Config
from core.errors import NotFound
from core.keys import META_SOURCE, META_SOURCE_BUCKET, decode_meta_value, is_selected
from core.profiles import outputs_for
from core.storage.port import Storage


class OrphanAction(StrEnum):
    """What happened to an orphan."""

    DELETED = "deleted"
    ABSENT = "absent"  # already gone
    KEPT = "kept"  # no longer an orphan (or no longer polythumb's): left alone


def delete_orphan(orphan: Orphan, *, source: Storage, dest: Storage, config: Config) -> OrphanAction:
    """Delete ``orphan`` from ``dest`` if it still is one."""
    try:
        info = dest.head(orphan.key)
    except NotFound:
        return OrphanAction.ABSENT
    meta = {name.lower(): value for name, value in info.metadata.items()}
    if META_SOURCE not in meta or decode_meta_value(meta[META_SOURCE]) != orphan.source_key:
        return OrphanAction.KEPT
    recorded_bucket = meta.get(META_SOURCE_BUCKET)
    if recorded_bucket is not None and decode_meta_value(recorded_bucket) != source.bucket:
        return OrphanAction.KEPT
    if not _still_orphaned(orphan, source=source, config=config):
        return OrphanAction.KEPT
    dest.delete(orphan.key)
    return OrphanAction.DELETED


def _still_orphaned(orphan: Orphan, *, source: Storage, config: Config) -> bool:
    if orphan.reason is OrphanReason.NOT_CONFIGURED:
        return orphan.key not in {output.key for output in outputs_for(config, orphan.source_key)}
    if orphan.reason is OrphanReason.SOURCE_FILTERED:
        return not is_selected(config, orphan.source_key)
    try:
        source.head(orphan.source_key)
    except NotFound:
        return True
    return False  # re-uploaded since the plan: its thumbnails are wanted again
