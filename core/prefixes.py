"""Recursive directory deletes: remove polythumb's own thumbnails of every source under a directory.

A Data Lake account deletes a directory with one call and one event (``DirectoryDeleted``, recursive),
not one event per blob. The sources are gone; their thumbnails are found by listing the destination
under the directory's output prefix (paged by the backend) and reading each candidate's metadata:
only an object carrying polythumb's marker, rendered from a source under that directory of that
bucket, is deleted, and only if its source has not been re-created since (the ownership rule of
:mod:`core.ownership`: an orphan may go, another existing source's output never). Objects polythumb did
not write are never touched.

The work per event is bounded: after :data:`PREFIX_DELETE_LIMIT` listed objects the event fails as
:class:`core.errors.PrefixTooLarge` (permanent: a retry would re-examine the same objects), naming
``polythumb backfill --delete-orphans`` for the rest.
"""

from __future__ import annotations

import string

from core.config import Config
from core.errors import PrefixTooLarge
from core.outcome import Action, OutputRecord
from core.ownership import Owner, ownership, recorded_source
from core.storage.port import Storage, head_or_none
from core.storage.validation import collapse_slashes

#: Objects one directory delete may list in the destination (each may cost a HEAD on S3 and Azure,
#: whose listings carry no metadata): about 10,000 HEADs, well inside every platform's timeout.
PREFIX_DELETE_LIMIT = 10_000


def output_listing_prefix(template: str, directory: str) -> str:
    """The longest destination key prefix every key ``template`` gives a source under ``directory`` starts with.

    The template's literal text up to its first field; when that field is ``{dir}``, the directory too
    (a source below it has a ``{dir}`` that starts with it), and a following ``/``.
    """
    parts = list(string.Formatter().parse(template))
    prefix = ""
    for index, (literal, field, _spec, _conversion) in enumerate(parts):
        prefix += literal
        if field is None:
            continue
        if field == "dir":
            following = parts[index + 1][0] if index + 1 < len(parts) else ""
            prefix += directory + ("/" if following.startswith("/") else "")
        break
    return collapse_slashes(prefix)


def output_listing_prefixes(config: Config, directory: str) -> list[str]:
    """The prefixes to list for ``directory``: one per key template in use (profiles may differ), none nested."""
    templates = [*config.profiles.key_templates(), *([config.manifest_key] if config.manifest else [])]  # manifests too
    prefixes = sorted({output_listing_prefix(template, directory) for template in templates})
    return [p for i, p in enumerate(prefixes) if not any(p.startswith(q) for q in prefixes[:i])]


def delete_outputs_under(
    config: Config,
    *,
    source: Storage,
    dest: Storage,
    directory: str,
    limit: int = PREFIX_DELETE_LIMIT,
) -> tuple[OutputRecord, ...]:
    """Delete the thumbnails of every source that was under ``directory`` in ``source``.

    Raises:
        PrefixTooLarge: more than ``limit`` objects listed; those already deleted stay deleted.
    """
    under = directory.rstrip("/") + "/"
    live: dict[str, bool] = {}
    records: list[OutputRecord] = []

    def exists(bucket: str, key: str) -> bool:  # one HEAD per source, however many outputs it had
        if key not in live:
            live[key] = head_or_none(source, key) is not None
        return live[key]

    listed_under = (info for prefix in output_listing_prefixes(config, directory) for info in dest.list(prefix))
    for examined, listed in enumerate(listed_under, start=1):
        if examined > limit:
            raise PrefixTooLarge(
                f"{source.bucket}/{under}: deleted {len(records)} thumbnails, then stopped after examining {limit} "
                f"objects in {dest.bucket}; run `polythumb backfill --delete-orphans` for the rest"
            )
        info = listed if listed.metadata else head_or_none(dest, listed.key)
        owner = recorded_source(info, bucket=source.bucket) if info is not None else None
        if owner is None or owner.bucket != source.bucket or not owner.key.startswith(under):
            continue  # not polythumb's, or rendered from another bucket or from outside the directory
        verdict = ownership(info, bucket=source.bucket, source_key=None, exists=exists)
        if verdict.owner is not Owner.ORPHANED or verdict.provenance is None:
            continue  # a source re-created since the delete keeps its thumbnails
        dest.delete(listed.key)
        records.append(OutputRecord(key=listed.key, box=verdict.provenance.box, action=Action.DELETED))
    return tuple(records)
