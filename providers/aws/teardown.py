"""``polythumb teardown aws``: empty the stack's two buckets of what polythumb wrote, so destroy can delete them.

Both buckets are versioned (``deploy/s3.tf``): a delete leaves the old version and a delete marker, so after
``polythumb verify`` (which uploads, then deletes, three samples and their thumbnails) neither bucket is
empty and ``terraform destroy`` fails with ``BucketNotEmpty``. Every version and delete marker is sorted
out:

* **polythumb's**: in the originals bucket, the samples ``verify`` uploads
  (``<source_prefix>polythumb-verify-<8 hex>/<sample>``); in the thumbnails bucket, every version that
  carries polythumb's provenance metadata (thumbnails and manifests). A key's delete markers go with its
  versions when all of them are polythumb's. These are deleted without asking.
* **anything else** -- a user's originals above all -- is counted and shown, and deleted only if the
  person at the terminal types that bucket's name; otherwise nothing at all is deleted and the teardown
  stops, saying what to do.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError
from core.keys import is_polythumb_output
from core.ops.deploy import DeployFailed
from core.ops.verify import is_verify_upload

#: DeleteObjects takes at most this many keys per request.
DELETE_BATCH = 1000
#: HEAD requests in flight while reading the thumbnails' metadata.
HEAD_WORKERS = 16
#: Keys shown of what polythumb did not write.
SHOWN = 5


@dataclass(frozen=True)
class Version:
    """One object version or delete marker (``version_id`` is ``"null"`` for one written before versioning)."""

    key: str
    version_id: str
    delete_marker: bool = False


@dataclass
class Contents:
    """A bucket's versions and delete markers, sorted out: polythumb's, and everything else."""

    bucket: str
    ours: list[Version] = field(default_factory=list)
    theirs: list[Version] = field(default_factory=list)


def list_versions(client: Any, bucket: str) -> list[Version]:
    """Every object version and delete marker of ``bucket`` ([] when the bucket is gone already)."""
    found: list[Version] = []
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            found += [Version(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
            found += [Version(m["Key"], m["VersionId"], True) for m in page.get("DeleteMarkers", [])]
    except client.exceptions.NoSuchBucket:
        return []
    return found


def sort_out(bucket: str, versions: Sequence[Version], is_ours: Callable[[Version], bool]) -> Contents:
    """Split ``versions`` by ``is_ours`` (asked of object versions); markers follow their key's versions."""
    by_key: dict[str, list[Version]] = defaultdict(list)
    for version in versions:
        by_key[version.key].append(version)
    objects = [v for v in versions if not v.delete_marker]
    with ThreadPoolExecutor(max_workers=HEAD_WORKERS) as pool:
        verdicts = dict(zip(objects, pool.map(is_ours, objects), strict=True))
    contents = Contents(bucket)
    for entries in by_key.values():
        all_ours = all(verdicts[v] for v in entries if not v.delete_marker)  # a lone marker hides nothing
        for version in entries:
            ours = all_ours if version.delete_marker else verdicts[version]
            (contents.ours if ours else contents.theirs).append(version)
    return contents


def verify_samples(prefix: str) -> Callable[[Version], bool]:
    """In the originals bucket: polythumb's are the samples ``polythumb verify`` uploaded under ``prefix``."""
    return lambda version: is_verify_upload(version.key, prefix=prefix)


def provenance(client: Any, bucket: str) -> Callable[[Version], bool]:
    """In the thumbnails bucket: polythumb's are the versions carrying its provenance metadata."""

    def is_ours(version: Version) -> bool:
        try:
            head = client.head_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
        except client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion"):
                return True  # gone meanwhile: nothing of anyone's is lost by deleting it again
            raise
        return is_polythumb_output(head.get("Metadata") or {})

    return is_ours


def delete_versions(client: Any, bucket: str, versions: Sequence[Version]) -> None:
    """Delete exactly these versions and markers, in batches; any refusal raises with the first keys."""
    for batch in _batches(versions, DELETE_BATCH):
        answer = client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": v.key, "VersionId": v.version_id} for v in batch], "Quiet": True},
        )
        errors = answer.get("Errors") or []
        if errors:
            shown = ", ".join(f"{e.get('Key')} ({e.get('Code')})" for e in errors[:SHOWN])
            raise DeployFailed(f"s3://{bucket}: {len(errors)} versions were not deleted: {shown}")


def empty_for_destroy(
    client: Any, *, source_bucket: str, source_prefix: str, thumbnail_bucket: str, confirm: Callable[[str], str]
) -> Callable[[], None]:
    """Sort out both buckets and ask about what is not polythumb's; return what deletes the versions agreed on.

    Every question is asked before anything is deleted, and nothing is deleted until the returned callable
    runs (after the teardown as a whole is confirmed): a "no" leaves both buckets as they were.

    Raises:
        ConfigError: a bucket holds versions polythumb did not write, and the user did not confirm.
    """
    plans = [
        sort_out(source_bucket, list_versions(client, source_bucket), verify_samples(source_prefix)),
        sort_out(thumbnail_bucket, list_versions(client, thumbnail_bucket), provenance(client, thumbnail_bucket)),
    ]
    for contents in plans:
        if not contents.theirs:
            continue
        _describe(contents)
        answer = confirm(f"Type {contents.bucket} to delete them too (anything else stops the teardown): ")
        if answer.strip() != contents.bucket:
            raise ConfigError(
                f"s3://{contents.bucket} holds {len(contents.theirs)} versions polythumb did not write; nothing was "
                "deleted. Copy or move what you keep, then run `polythumb teardown aws` again (or answer with the "
                "bucket's name to delete them)"
            )
        contents.ours += contents.theirs
    for contents in plans:
        print(f"s3://{contents.bucket}: {len(contents.ours)} versions and delete markers to delete")

    def empty() -> None:
        for contents in plans:  # the originals first: a late delete event then finds no thumbnail to act on
            delete_versions(client, contents.bucket, contents.ours)
            print(f"s3://{contents.bucket}: deleted {len(contents.ours)} versions and delete markers")

    return empty


def _describe(contents: Contents) -> None:
    keys = sorted({v.key for v in contents.theirs})
    markers = sum(v.delete_marker for v in contents.theirs)
    print(
        f"s3://{contents.bucket} holds {len(contents.theirs)} versions polythumb did not write "
        f"({len(keys)} keys, {markers} delete markers), e.g.:",
        file=sys.stderr,
    )
    for key in keys[:SHOWN]:
        print(f"  {key}", file=sys.stderr)


def _batches(items: Sequence[Version], size: int) -> Iterator[Sequence[Version]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
