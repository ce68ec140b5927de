"""``polythumb teardown aws`` on moto's S3 (issue 21): versioned buckets emptied of what polythumb wrote, and of
nothing else unless the user types the bucket's name.

The buckets hold what ``polythumb verify`` leaves behind on versioned buckets -- its samples' old versions and
delete markers in the originals bucket, its thumbnails' in the destination -- next to a user's original and a
user's object in the thumbnails bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.errors import ConfigError
from core.keys import Provenance
from providers.aws.teardown import empty_for_destroy, list_versions

pytestmark = pytest.mark.aws

PREFIX = "uploads/"
RUN = f"{PREFIX}polythumb-verify-0123abcd/"


def thumbnail_metadata(source_key: str, bucket: str) -> dict[str, str]:
    return Provenance(source_key, bucket, "etag-1", "128x128", "digest").to_metadata()


def leave_what_verify_leaves(s3: Any, source: str, dest: str) -> None:
    """Upload and delete three samples and their thumbnails, twice for one, on versioned buckets."""
    for name in ("oriented.jpg", "alpha.png", "not-an-image.jpg"):
        s3.put_object(Bucket=source, Key=RUN + name, Body=b"sample")
        s3.delete_object(Bucket=source, Key=RUN + name)  # -> an old version and a delete marker
    for name in ("oriented.jpg", "alpha.png"):
        key = f"thumbnails/{RUN}{name}-128x128.jpg"
        for _ in range(2):  # a re-render: two versions
            s3.put_object(Bucket=dest, Key=key, Body=b"thumb", Metadata=thumbnail_metadata(RUN + name, source))
        s3.delete_object(Bucket=dest, Key=key)


@pytest.fixture
def buckets(new_bucket: Callable[..., str], s3_client: Any) -> tuple[str, str]:
    source, dest = new_bucket("src", versioned=True), new_bucket("dst", versioned=True)
    leave_what_verify_leaves(s3_client, source, dest)
    return source, dest


def never_asked(question: str) -> str:
    raise AssertionError(f"asked without need: {question}")


def test_polythumb_s_versions_and_markers_go_without_a_question(s3_client: Any, buckets: tuple[str, str]) -> None:
    source, dest = buckets
    assert len(list_versions(s3_client, source)) == 6 and len(list_versions(s3_client, dest)) == 6
    empty = empty_for_destroy(s3_client, source_bucket=source, source_prefix=PREFIX, thumbnail_bucket=dest,
                              confirm=never_asked)  # fmt: skip
    assert len(list_versions(s3_client, source)) == 6  # nothing deleted before the teardown is confirmed
    empty()
    assert list_versions(s3_client, source) == [] and list_versions(s3_client, dest) == []
    s3_client.delete_bucket(Bucket=source)  # what terraform destroy does: no BucketNotEmpty any more
    s3_client.delete_bucket(Bucket=dest)


def test_a_users_original_is_never_deleted_without_the_bucket_name(s3_client: Any, buckets: tuple[str, str]) -> None:
    source, dest = buckets
    s3_client.put_object(Bucket=source, Key=f"{PREFIX}holiday/beach.jpg", Body=b"an original")
    s3_client.put_object(Bucket=source, Key=f"{PREFIX}holiday/beach.jpg", Body=b"its new version")
    # Named like a verify sample, but outside the source prefix: not polythumb's either.
    s3_client.put_object(Bucket=source, Key="polythumb-verify-0123abcd/alpha.png", Body=b"mine")
    before = {bucket: list_versions(s3_client, bucket) for bucket in buckets}
    questions: list[str] = []

    def refuse(question: str) -> str:
        questions.append(question)
        return "yes"  # not the bucket's name

    with pytest.raises(ConfigError, match=f"s3://{source} holds 3 versions polythumb did not write; nothing was"):
        empty_for_destroy(s3_client, source_bucket=source, source_prefix=PREFIX, thumbnail_bucket=dest,
                          confirm=refuse)  # fmt: skip
    assert questions == [f"Type {source} to delete them too (anything else stops the teardown): "]
    assert {bucket: list_versions(s3_client, bucket) for bucket in buckets} == before  # nothing at all deleted

    empty_for_destroy(s3_client, source_bucket=source, source_prefix=PREFIX, thumbnail_bucket=dest,
                      confirm=lambda question: f" {source}\n")()  # fmt: skip
    assert list_versions(s3_client, source) == [] and list_versions(s3_client, dest) == []


def test_in_the_thumbnails_bucket_only_objects_with_polythumbs_provenance_are_its_own(
    s3_client: Any, buckets: tuple[str, str]
) -> None:
    source, dest = buckets
    s3_client.put_object(Bucket=dest, Key="thumbnails/logo.png", Body=b"uploaded by someone")
    # A key polythumb wrote and someone then overwrote: its delete markers stay with the someone's version.
    shared = f"thumbnails/{RUN}shared-128x128.jpg"
    s3_client.put_object(Bucket=dest, Key=shared, Body=b"t", Metadata=thumbnail_metadata(RUN + "shared", source))
    s3_client.put_object(Bucket=dest, Key=shared, Body=b"someone's")
    s3_client.delete_object(Bucket=dest, Key=shared)
    answers = iter(["", ""])
    with pytest.raises(ConfigError, match=f"s3://{dest} holds 3 versions polythumb did not write"):
        empty_for_destroy(s3_client, source_bucket=source, source_prefix=PREFIX, thumbnail_bucket=dest,
                          confirm=lambda question: next(answers))  # fmt: skip
    theirs = {(v.key, v.delete_marker) for v in list_versions(s3_client, dest) if "logo" in v.key or v.key == shared}
    assert theirs == {("thumbnails/logo.png", False), (shared, False), (shared, True)}
