"""SRC and DEST nested in each other: polythumb never renders a thumbnail of a thumbnail.

Issue 20: ``polythumb run photos --out photos/thumbs`` three times gave ``thumbs/cat-256x256.jpg``, then
``thumbs/thumbs/cat-256x256-256x256.jpg``, ...; ``watch`` doubled the files every generation. The loop guard
looked for the output marker in SRC's sidecars while the outputs' sidecars live under DEST's. Now the
filesystem backend finds a file's sidecar in the reserved area of whichever store wrote it (nested below the
root, or enclosing it), so the loop guard recognises polythumb's outputs in every layout: DEST inside SRC, SRC
inside DEST, either reached through a symlink, and DEST == SRC as before.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.keys import Provenance
from core.ops.cli import main
from core.ops.runner import watch_directory
from core.storage import FilesystemStorage
from tests.images import jpeg_bytes, png_rgba_bytes

SIZES = "64x64,32x32"


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    src = tmp_path / "photos"
    (src / "2024").mkdir(parents=True)
    (src / "cat.jpg").write_bytes(jpeg_bytes(300, 200))
    (src / "2024" / "logo.png").write_bytes(png_rgba_bytes())
    return src


def _run(capsys: pytest.CaptureFixture[str], src: Path, out: Path, *extra: str) -> tuple[int, list[dict[str, object]]]:
    """``polythumb run SRC --out OUT --json``: its exit status and records."""
    status = main(["run", str(src), "--out", str(out), "--json", "--workers", "1", "--sizes", SIZES, *extra])
    return status, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _written(records: list[dict[str, object]]) -> list[str]:
    return sorted(o["key"] for r in records for o in r.get("outputs", []) if o["action"] == "written")  # type: ignore[index, attr-defined, union-attr]


def _data_files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".polythumb" not in p.parts
    )


EXPECTED = ["2024/logo-32x32.png", "2024/logo-64x64.png", "cat-32x32.jpg", "cat-64x64.jpg"]


def test_dest_inside_src_is_rendered_once_then_never_again(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = photos / "thumbs"
    runs = [_run(capsys, photos, out) for _ in range(3)]

    assert [status for status, _ in runs] == [0, 0, 0]
    assert [_written(records) for _, records in runs] == [EXPECTED, [], []]
    assert _data_files(out) == EXPECTED
    later = {r["key"]: (r["status"], r.get("reason")) for r in runs[2][1]}
    assert later["thumbs/cat-64x64.jpg"] == ("skipped", "polythumb_output")  # recognised, not a source


def test_dest_reached_through_a_symlink_into_src_is_recognised(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (photos / "thumbs").mkdir()
    alias = tmp_path / "alias"
    os.symlink(photos / "thumbs", alias)  # --out names DEST by a path outside SRC; it really is inside

    runs = [_run(capsys, photos, alias) for _ in range(2)]

    assert [_written(records) for _, records in runs] == [EXPECTED, []]
    assert _data_files(photos / "thumbs") == EXPECTED


def test_a_symlink_in_src_to_dest_does_not_feed_the_thumbnails_back(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(out, photos / "see-thumbs")  # a directory symlink: not entered

    runs = [_run(capsys, photos, out) for _ in range(2)]

    assert [_written(records) for _, records in runs] == [EXPECTED, []]
    assert _data_files(out) == EXPECTED


def test_src_inside_dest_with_outputs_landing_in_src_is_rendered_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site"
    src = out / "photos"
    src.mkdir(parents=True)
    (src / "cat.jpg").write_bytes(jpeg_bytes(300, 200))
    template = ["--key-template", "photos/{stem}-{width}x{height}.{ext}"]  # into SRC, which is inside DEST

    runs = [_run(capsys, src, out, *template) for _ in range(3)]

    assert [status for status, _ in runs] == [0, 0, 0]
    assert [_written(records) for _, records in runs] == [["photos/cat-32x32.jpg", "photos/cat-64x64.jpg"], [], []]
    assert _data_files(src) == ["cat-32x32.jpg", "cat-64x64.jpg", "cat.jpg"]


def test_dest_equal_to_src_still_skips_its_own_outputs(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [_run(capsys, photos, photos) for _ in range(2)]

    assert [_written(records) for _, records in runs] == [EXPECTED, []]
    assert _data_files(photos) == sorted([*EXPECTED, "2024/logo.png", "cat.jpg"])


def test_watch_with_dest_inside_src_renders_each_source_once(photos: Path) -> None:
    out = photos / "thumbs"
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(out.resolve()), "THUMBS_SIZES": SIZES})
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_directory, args=(photos, config), kwargs={"interval": 0.05, "stop": stop}, daemon=True
    )
    watcher.start()
    try:
        deadline = time.monotonic() + 30
        while _data_files(out) != EXPECTED and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # twenty more scans: a runaway would have doubled the files several times by now
    finally:
        stop.set()
        watcher.join(timeout=10)

    assert _data_files(out) == EXPECTED


def test_backfill_with_dest_inside_src_plans_no_thumbnail_as_a_source_and_cleans_up_old_ones(
    photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = photos / "thumbs"
    assert _run(capsys, photos, out)[0] == 0
    # What an older version's second run left: a thumbnail rendered from a thumbnail.
    [output] = load_config({}, overrides={"THUMBS_SIZES": "64x64"}).profiles.outputs_for("thumbs/cat-64x64.jpg")
    provenance = Provenance.of(output.spec, bucket=str(photos.resolve()), source_key="thumbs/cat-64x64.jpg",
                               revision="r", box=output.box, dimensions=(64, 48))  # fmt: skip
    FilesystemStorage(out).put("thumbs/cat-64x64-64x64.jpg", b"thumb of a thumb", content_type="image/jpeg",
                               metadata=provenance.to_metadata())  # fmt: skip

    status = main(["backfill", str(photos), "--out", str(out), "--sizes", SIZES, "--workers", "1", "--json",
                   "--no-progress", "--delete-orphans", "--checkpoint", str(photos.parent / "ck.json")])  # fmt: skip
    report = json.loads(capsys.readouterr().out)

    assert status == 0
    assert report["plan"]["sources"]["polythumb_outputs"] == 5  # four thumbnails and the leftover
    assert report["plan"]["orphan_reasons"] == {"source_is_output": 1}
    assert report["rendered"] == 0
    assert _data_files(out) == EXPECTED
