"""``polythumb verify`` on a THUMBS_PROFILES deployment: a sample where each profile takes it, every output checked.

The placement is checked on its own (:func:`core.ops.verify.plan_uploads`), then the whole verifier runs
against the local service (``polythumb watch``, :func:`core.ops.runner.watch_directory`, in a thread) on two
directories, as it runs against a cloud's buckets (the cloud rigs: ``tests/providers/<cloud>/test_verify.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from core.config import load_config
from core.ops.runner import watch_directory
from core.ops.verify import RUN_PREFIX, is_verify_upload, plan_uploads, samples, verify
from core.profiles import Profiles
from core.storage.filesystem import FilesystemStorage
from tests.verify_support import PROFILE_CHECKS, PROFILE_OUTPUTS, PROFILES

FOLDER = f"{RUN_PREFIX}0123abcd"

def profiles(document: Mapping[str, object] = PROFILES, **settings: str) -> Profiles:
    return load_config({"THUMBS_PROFILES": json.dumps(document), **settings}).profiles


def placed(found: Profiles, prefix: str = "uploads/") -> dict[str, list[str]]:
    uploads, missed = plan_uploads(found, prefix=prefix, folder=FOLDER, originals=samples())
    assert missed == []
    by_profile: dict[str, list[str]] = {}
    for upload in uploads:
        by_profile.setdefault(upload.profile.name if upload.profile else "-", []).append(upload.key)
    return by_profile


def test_the_single_recipe_uploads_where_it_always_did() -> None:
    uploads, missed = plan_uploads(load_config({}).profiles, prefix="uploads/", folder=FOLDER, originals=samples())
    assert missed == []
    assert [u.key for u in uploads] == [f"uploads/{FOLDER}/{name}" for name in ("oriented.jpg", "alpha.png",
                                                                               "not-an-image.jpg")]  # fmt: skip
    assert [len(u.outputs) for u in uploads] == [1, 1, 1]  # the non-image too: its refusal is what is checked


def test_every_profile_gets_a_sample_it_takes_and_every_output_of_it() -> None:
    found = profiles()
    uploads, missed = plan_uploads(found, prefix="uploads/", folder=FOLDER, originals=samples())
    assert missed == []
    for upload in uploads:
        assert upload.key.startswith("uploads/") and FOLDER in upload.key
        assert found.profile_for(upload.key) == upload.profile
        assert list(upload.outputs) == found.outputs_for(upload.key)  # each size in each format
    assert {u.profile.name for u in uploads if u.profile} == {"avatars", "products", "banners", "moving"}


def test_the_placement_follows_each_glob() -> None:
    found = profiles()
    assert placed(found) == {
        "avatars": [f"uploads/{FOLDER}/avatars/oriented.jpg", f"uploads/{FOLDER}/avatars/alpha.png",
                    f"uploads/{FOLDER}/avatars/not-an-image.jpg"],  # the first profile taking a .jpg: refused there
        "products": [f"uploads/{FOLDER}/products/oriented.jpg", f"uploads/{FOLDER}/products/alpha.png"],
        "banners": [f"uploads/{FOLDER}/banners/oriented.jpg", f"uploads/{FOLDER}/banners/alpha.png"],
        "moving": [f"uploads/{FOLDER}/animated.gif"],  # only a GIF reaches it: the animated sample
    }  # fmt: skip


@pytest.mark.parametrize(
    ("match", "prefix", "expected"),
    [
        ("photos/*", "photos/2024/", f"photos/2024/{FOLDER}/oriented.jpg"),  # the prefix is deeper than the glob
        ("uploads/team/*", "uploads/", f"uploads/team/{FOLDER}/oriented.jpg"),  # the glob is deeper than the prefix
        ("*.JPEG", "", f"{FOLDER}/oriented.jpeg"),  # a name of the same kind the glob takes
        ("*/[a-c]vatars/???/*", "in/", f"in/{FOLDER}/avatars/xxx/oriented.jpg"),
        ("*-[!a]*", "", f"{FOLDER}/oriented.jpg"),  # the run folder's own name has a "-v"
        ("*_[!a]*", "", f"{FOLDER}/_xoriented.jpg"),
    ],
)
def test_a_key_is_found_for_globs_of_every_shape(match: str, prefix: str, expected: str) -> None:
    found = profiles({"profiles": {"p": {"match": match}}})
    uploads, missed = plan_uploads(found, prefix=prefix, folder=FOLDER, originals=samples())
    assert missed == []
    assert uploads[0].key == expected
    assert found.profile_for(expected) == found.profiles[0]
    assert all(is_verify_upload(upload.key, prefix=prefix) for upload in uploads)


def test_a_profile_no_sample_can_reach_is_named() -> None:
    found = profiles({"profiles": {"logo": {"match": "brand/logo.png"}, "rest": {"match": "*"}}})
    uploads, missed = plan_uploads(found, prefix="", folder=FOLDER, originals=samples())
    assert [profile.name for profile in missed] == ["logo"]  # a glob without a star names a key verify never writes
    assert {u.profile.name for u in uploads if u.profile} == {"rest"}


def test_a_profile_the_filter_or_an_earlier_profile_shadows_is_not_placed_in_its_shadow() -> None:
    document = {"profiles": {"first": {"match": "*/a/*"}, "second": {"match": "*/a/*.png"}, "rest": {"match": "*"}}}
    found = profiles(document)
    uploads, missed = plan_uploads(found, prefix="", folder=FOLDER, originals=samples())
    assert [profile.name for profile in missed] == ["second"]  # every key it takes, "first" takes before it
    only_png = profiles({"profiles": {"p": {"match": "*"}}}, THUMBS_INCLUDE="*.png")
    uploads, missed = plan_uploads(only_png, prefix="", folder=FOLDER, originals=samples())
    assert [u.key for u in uploads if u.profile] == [f"{FOLDER}/alpha.png"]


def test_the_teardown_recognises_every_upload_and_nothing_else() -> None:
    uploads, _ = plan_uploads(profiles(), prefix="uploads/", folder=FOLDER, originals=samples())
    assert all(is_verify_upload(upload.key, prefix="uploads/") for upload in uploads)
    assert not is_verify_upload(f"elsewhere/{FOLDER}/alpha.png", prefix="uploads/")  # outside the prefix
    assert not is_verify_upload(f"uploads/{FOLDER}/avatars/mine.png", prefix="uploads/")  # not a sample's name
    assert not is_verify_upload("uploads/polythumb-verify-xyz/alpha.png", prefix="uploads/")  # not a run folder


# -- against the local service ------------------------------------------------------------------------------


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[FilesystemStorage, FilesystemStorage, dict[str, str]]]:
    """``polythumb watch`` of ``src`` into ``dst`` with the profiles, running until the test ends."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    settings = {"THUMBS_PROFILES": json.dumps(PROFILES), "THUMBS_CACHE_CONTROL": "public, max-age=60",
                "THUMBS_DEST_BUCKET": str(dst)}  # fmt: skip
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_directory, args=(src, load_config(settings)), kwargs={"interval": 0.05, "stop": stop}, daemon=True
    )
    watcher.start()
    try:
        yield FilesystemStorage(src), FilesystemStorage(dst), settings
    finally:
        stop.set()
        watcher.join(timeout=10)


def test_verify_walks_every_output_of_every_profile_on_the_local_service(
    service: tuple[FilesystemStorage, FilesystemStorage, dict[str, str]],
) -> None:
    source, dest, settings = service
    report = verify(source, dest, load_config(settings), prefix="uploads/", timeout=30, poll=0.1)
    table = report.table()
    assert report.passed, table
    lines = table.splitlines()
    for label in PROFILE_CHECKS:
        assert any(line.startswith(label) and " pass " in line for line in lines), (label, table)
    assert any(line.startswith("moving: animated.gif 80x80") and "3 frames" in line for line in lines), table
    every = f"{PROFILE_OUTPUTS}/{PROFILE_OUTPUTS}"
    assert any(line.startswith("thumbnails appear") and every in line for line in lines), table
    assert list(source.list()) == [] and list(dest.list()) == []  # deletes removed every output, verify the samples


def test_verify_fails_where_the_service_runs_another_profile(
    service: tuple[FilesystemStorage, FilesystemStorage, dict[str, str]],
) -> None:
    source, dest, settings = service
    changed = json.loads(settings["THUMBS_PROFILES"])
    changed["profiles"]["products"]["quality"] = {"webp": 90}  # what the operator believes runs
    believed = load_config({**settings, "THUMBS_PROFILES": json.dumps(changed)})
    report = verify(source, dest, believed, prefix="uploads/", timeout=30, poll=0.1)
    failed = [check for check in report.checks if not check.passed]
    assert not report.passed
    assert {check.name for check in failed} == {
        "products: oriented.jpg 128x128 webp",
        "products: alpha.png 128x128 webp",
    }
    assert all("polythumb_params" in check.detail for check in failed)
