"""The completion contract locally: ``polythumb run``, ``watch`` and ``backfill`` write manifests and events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.ops.cli import main
from core.storage import FilesystemStorage
from tests.completion.support import ids, read_events, validate_manifest
from tests.images import jpeg_bytes, png_rgba_bytes

READY, FAILED = "dev.polythumb.thumbnails.ready", "dev.polythumb.thumbnails.failed"


def _tree(root: Path) -> None:
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.jpg").write_bytes(jpeg_bytes(400, 300))
    (root / "two.png").write_bytes(png_rgba_bytes(300, 200))
    (root / "bad.jpg").write_bytes(b"not an image at all")
    (root / "notes.txt").write_text("not selected: no event")


def _manifests(out: Path) -> list[Path]:
    return _files(out, "*.thumbs.json")


def _files(out: Path, pattern: str) -> list[Path]:
    """Files under ``out`` matching ``pattern``, not the filesystem backend's metadata sidecars."""
    return sorted(p for p in out.rglob(pattern) if ".polythumb" not in p.relative_to(out).parts)


def test_run_writes_one_manifest_per_rendered_source_and_one_event_per_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's done-when: THUMBS_MANIFEST=true THUMBS_NOTIFY=file:events.jsonl polythumb run SRC --out DEST."""
    src, out = tmp_path / "src", tmp_path / "out"
    _tree(src)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUMBS_MANIFEST", "true")
    monkeypatch.setenv("THUMBS_NOTIFY", "file:events.jsonl")
    monkeypatch.setenv("THUMBS_SIZES", "64,32")

    assert main(["run", str(src), "--out", str(out), "--workers", "2", "--no-progress"]) == 1  # bad.jpg failed
    events = read_events(tmp_path / "events.jsonl")
    assert sorted((e["subject"], e["type"]) for e in events) == [
        ("a/one.jpg", READY), ("bad.jpg", FAILED), ("two.png", READY),
    ]  # fmt: skip
    assert [p.relative_to(out).as_posix() for p in _manifests(out)] == ["a/one.jpg.thumbs.json", "two.png.thumbs.json"]
    for path in _manifests(out):
        document = json.loads(path.read_text())
        validate_manifest(document)
        assert len(document["outputs"]) == 2
        assert len(document["placeholders"]["lqip"]) <= 1024

    # Run again: nothing is rendered, every source is announced again with the same id.
    capsys.readouterr()
    assert main(["run", str(src), "--out", str(out), "--workers", "1", "--no-progress", "--json"]) == 1
    statuses = sorted(json.loads(line)["status"] for line in capsys.readouterr().out.splitlines())
    assert statuses == ["failed", "skipped", "skipped", "skipped"]  # notes.txt is filtered
    again = read_events(tmp_path / "events.jsonl")[len(events) :]
    assert sorted(ids(again)) == sorted(ids(events))


def test_a_publish_failure_fails_the_source_and_a_rerun_announces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locally, an events file that cannot be written fails the run; nothing is lost: the rerun announces."""
    src, out = tmp_path / "src", tmp_path / "out"
    (src).mkdir()
    (src / "one.jpg").write_bytes(jpeg_bytes(200, 100))
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory must be")
    monkeypatch.setenv("THUMBS_MANIFEST", "true")
    monkeypatch.setenv("THUMBS_NOTIFY", f"file:{blocked}/events.jsonl")
    assert main(["run", str(src), "--out", str(out), "--no-progress"]) == 1
    assert _manifests(out)  # the outputs were written before the publish was attempted

    monkeypatch.setenv("THUMBS_NOTIFY", f"file:{tmp_path}/events.jsonl")
    assert main(["run", str(src), "--out", str(out), "--no-progress"]) == 0
    assert [e["type"] for e in read_events(tmp_path / "events.jsonl")] == [READY]


def test_backfill_adds_missing_manifests_without_rerendering_and_cleans_them_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest is an output for the backfill: missing when absent, orphaned when no longer configured."""
    src, out = tmp_path / "src", tmp_path / "out"
    _tree(src)
    (src / "bad.jpg").unlink()
    monkeypatch.chdir(tmp_path)  # the backfill's checkpoint files go to the working directory
    monkeypatch.setenv("THUMBS_SIZES", "64")
    assert main(["run", str(src), "--out", str(out), "--no-progress"]) == 0
    thumbnails = {p: p.stat().st_mtime_ns for p in _files(out, "*-64x64.*")}
    assert len(thumbnails) == 2 and not _manifests(out)

    monkeypatch.setenv("THUMBS_MANIFEST", "true")
    monkeypatch.setenv("THUMBS_NOTIFY", f"file:{tmp_path}/events.jsonl")
    capsys.readouterr()
    assert main(["backfill", str(src), "--out", str(out), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["missing"], plan["current"]) == (2, 0)

    assert main(["backfill", str(src), "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    assert len(_manifests(out)) == 2
    assert {p: p.stat().st_mtime_ns for p in _files(out, "*-64x64.*")} == thumbnails  # only manifests were written
    assert sorted(e["subject"] for e in read_events(tmp_path / "events.jsonl")) == ["a/one.jpg", "two.png"]

    monkeypatch.setenv("THUMBS_MANIFEST", "false")
    assert main(["backfill", str(src), "--out", str(out), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["orphaned"], plan["orphan_reasons"]) == (2, {"not_configured": 2})
    assert main(["backfill", str(src), "--out", str(out), "--delete-orphans", "--json"]) == 0
    assert not _manifests(out) and len(_files(out, "*-64x64.*")) == 2


def test_manifests_in_place_are_skipped_by_the_loop_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DEST == SRC: a manifest, even one matching THUMBS_INCLUDE, is polythumb's output and never a source."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "one.jpg").write_bytes(jpeg_bytes(200, 100))
    monkeypatch.setenv("THUMBS_MANIFEST", "true")
    monkeypatch.setenv("THUMBS_INCLUDE", "*.jpg,*.json")
    assert main(["run", str(src), "--out", str(src), "--no-progress"]) == 0
    manifest = src / "one.jpg.thumbs.json"
    before = manifest.stat().st_mtime_ns
    assert main(["run", str(src), "--out", str(src), "--no-progress"]) == 0
    assert manifest.stat().st_mtime_ns == before
    assert FilesystemStorage(src).head("one.jpg.thumbs.json").metadata["polythumb_box"] == "manifest"


def test_watch_announces_ready_then_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``polythumb watch``: a new image is announced ready; deleting it announces deleted and removes its manifest."""
    import threading
    import time

    from core.config import load_config
    from core.ops.runner import watch_directory

    src, out, events = tmp_path / "src", tmp_path / "out", tmp_path / "events.jsonl"
    src.mkdir()
    config = load_config({"THUMBS_MANIFEST": "true", "THUMBS_NOTIFY": f"file:{events}", "THUMBS_DEST_BUCKET": str(out)})
    stop = threading.Event()
    watcher = threading.Thread(target=watch_directory, args=(src, config), kwargs={"interval": 0.05, "stop": stop})
    watcher.start()

    def wait_for(count: int) -> list[str]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = [e["type"].rsplit(".", 1)[1] for e in read_events(events)]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} events: {read_events(events)}")

    try:
        (src / "cat.jpg").write_bytes(jpeg_bytes(200, 100))
        assert wait_for(1) == ["ready"]
        assert (out / "cat.jpg.thumbs.json").exists()
        (src / "cat.jpg").unlink()
        assert wait_for(2) == ["ready", "deleted"]
        assert not (out / "cat.jpg.thumbs.json").exists()
    finally:
        stop.set()
        watcher.join(timeout=10)


def test_profiles_every_format_is_announced_and_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With THUMBS_PROFILES, the event and the manifest name every size in every format of the key's profile."""
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "avatars").mkdir(parents=True)
    (src / "avatars" / "ada.jpg").write_bytes(jpeg_bytes(300, 200))
    profiles = {"profiles": {"avatars": {"match": "avatars/*", "sizes": [64, 32], "formats": ["webp", "jpeg"]}}}
    monkeypatch.setenv("THUMBS_PROFILES", json.dumps(profiles))
    monkeypatch.setenv("THUMBS_MANIFEST", "true")
    monkeypatch.setenv("THUMBS_NOTIFY", f"file:{tmp_path}/events.jsonl")
    assert main(["run", str(src), "--out", str(out), "--no-progress"]) == 0
    (event,) = read_events(tmp_path / "events.jsonl")
    listed = sorted((o["key"], o["content_type"]) for o in event["data"]["outputs"])
    assert listed == [
        ("avatars/ada-32x32.jpg", "image/jpeg"), ("avatars/ada-32x32.webp", "image/webp"),
        ("avatars/ada-64x64.jpg", "image/jpeg"), ("avatars/ada-64x64.webp", "image/webp"),
    ]  # fmt: skip
    document = json.loads((out / "avatars" / "ada.jpg.thumbs.json").read_text())
    validate_manifest(document)
    assert document["outputs"] == event["data"]["outputs"]


def test_a_manifest_key_on_a_profiles_thumbnail_is_refused() -> None:
    from core.completion import check_settings
    from core.config import load_config
    from core.errors import ConfigError

    profiles = {"profiles": {"a": {"match": "*", "sizes": [64], "key_template": "{dir}/{stem}.thumbs.{ext}"}}}
    with pytest.raises(ConfigError, match="THUMBS_MANIFEST_KEY"):
        check_settings(load_config({"THUMBS_PROFILES": json.dumps(profiles), "THUMBS_MANIFEST": "true",
                     "THUMBS_MANIFEST_KEY": "{dir}/{stem}.thumbs.jpg", "THUMBS_FORMAT": "jpeg"}))  # fmt: skip
