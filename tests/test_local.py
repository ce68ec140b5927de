"""The embedded default end to end: `polythumb run`, `polythumb watch`, `polythumb config`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.ops.cli import main
from core.ops.runner import run_directory, watch_directory
from core.outcome import Outcome, Status
from tests.images import jpeg_bytes, open_bytes, png_rgba_bytes

ROOT = Path(__file__).parents[1]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    src = tmp_path / "photos"
    (src / "2024" / "trip").mkdir(parents=True)
    (src / "2024" / "trip" / "beach day.jpg").write_bytes(jpeg_bytes(800, 600))
    (src / "2024" / "logo.png").write_bytes(png_rgba_bytes())
    (src / "café.jpg").write_bytes(jpeg_bytes(300, 400))
    (src / "notes.txt").write_text("not an image, and not selected")
    (src / "broken.jpg").write_bytes(b"<html>502</html>")
    return src


def test_run_json_reports_every_source_and_fails_on_broken_input(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "thumbs"
    status = main(["run", str(photos), "--out", str(out), "--json", "--workers", "2", "--sizes", "128x128,64x64"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert status == 1
    by_key = {line["key"]: line for line in lines}
    assert set(by_key) == {"2024/trip/beach day.jpg", "2024/logo.png", "café.jpg", "notes.txt", "broken.jpg"}
    assert by_key["notes.txt"]["status"] == "skipped" and by_key["notes.txt"]["reason"] == "filtered"
    assert by_key["broken.jpg"]["status"] == "failed" and by_key["broken.jpg"]["error_kind"] == "not_an_image"
    beach = by_key["2024/trip/beach day.jpg"]
    assert beach["status"] == "ok"
    assert [(o["key"], o["width"], o["height"]) for o in beach["outputs"]] == [
        ("2024/trip/beach day-128x128.jpg", 128, 96),
        ("2024/trip/beach day-64x64.jpg", 64, 48),
    ]
    assert open_bytes((out / "2024" / "trip" / "beach day-128x128.jpg").read_bytes()).size == (128, 96)
    assert open_bytes((out / "2024" / "logo-64x64.png").read_bytes()).mode == "RGBA"
    assert (out / "café-128x128.jpg").exists()


def test_run_exits_zero_when_everything_renders_and_is_idempotent(photos: Path, tmp_path: Path) -> None:
    (photos / "broken.jpg").unlink()
    out = tmp_path / "thumbs"
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(out)})
    first = run_directory(photos, config, workers=2)
    assert (first.ok, first.skipped, first.failed, first.written) == (3, 1, 0, 3)
    second = run_directory(photos, config, workers=1)
    assert (second.ok, second.skipped, second.failed, second.written) == (0, 4, 0, 0)
    assert main(["run", str(photos), "--out", str(out), "--no-progress"]) == 0


def test_configuration_errors_exit_2_and_name_the_variable(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["run", str(photos), "--out", str(tmp_path / "o"), "--format", "bmp"]) == 2
    assert "THUMBS_FORMAT='bmp'" in capsys.readouterr().err
    monkeypatch.setenv("THUMBS_SIZEZ", "64")
    assert main(["run", str(photos), "--out", str(tmp_path / "o")]) == 2
    assert "THUMBS_SIZEZ is not a polythumb setting" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_config_command_prints_effective_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUMBNAIL_SIZE", "128,128")
    assert main(["config", "--format", "webp"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["sizes"] == ["128x128"]
    assert shown["format"] == "webp"
    assert shown["from"]["THUMBS_SIZES"] == "THUMBNAIL_SIZE"


def test_console_script_runs_in_a_subprocess(photos: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "core.ops.cli", "run", str(photos), "--out", str(tmp_path / "t"),
         "--exclude", "broken*"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 sources: 3 ok, 2 skipped, 0 failed; 3 thumbnails written" in result.stderr


def _wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("same_folder", [False, True], ids=["separate-dest", "dest-is-source"])
def test_watch_renders_new_images_and_removes_thumbnails_of_deleted_ones(tmp_path: Path, same_folder: bool) -> None:
    src = tmp_path / "inbox"
    src.mkdir()
    out = src if same_folder else tmp_path / "thumbs"
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": str(out), "THUMBS_SIZES": "64"})
    stop = threading.Event()
    outcomes: list[Outcome] = []
    watcher = threading.Thread(
        target=watch_directory,
        kwargs={"source": src, "config": config, "interval": 0.1, "stop": stop, "on_outcome": outcomes.append},
    )
    watcher.start()
    try:
        (src / "sub").mkdir()
        (src / "sub" / "new photo.jpg").write_bytes(jpeg_bytes(320, 240))
        thumb = out / "sub" / "new photo-64x64.jpg"
        assert _wait_for(thumb.exists), f"no thumbnail; outcomes: {outcomes}"
        assert open_bytes(thumb.read_bytes()).size == (64, 48)
        if same_folder:  # the thumbnail's own "created" event must reach the loop guard and stop there
            thumb_key = "sub/new photo-64x64.jpg"
            assert _wait_for(lambda: any(o.key == thumb_key for o in outcomes)), f"outcomes: {outcomes}"

        (src / "sub" / "new photo.jpg").unlink()
        assert _wait_for(lambda: not thumb.exists()), f"thumbnail not removed; outcomes: {outcomes}"
        time.sleep(0.5)  # several more scans: the loop guard must keep this quiet
    finally:
        stop.set()
        watcher.join(timeout=10)
    created = [o for o in outcomes if o.kind == "created"]
    assert [o.status for o in created if o.key == "sub/new photo.jpg"] == [Status.OK]
    if same_folder:
        assert [o.reason for o in created if o.key == "sub/new photo-64x64.jpg"] == ["polythumb_output"]
    assert not any(o.status is Status.FAILED for o in outcomes)


def test_report_commands_hand_their_options_to_the_report_modules(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["lockin", "--help"])
    assert exited.value.code == 0
    assert "--images-per-month" in capsys.readouterr().out
