"""One batch mixing good images with a non-image, a truncated file and a decompression bomb.

Through every provider's entrypoint (one batch answered with a partial batch response, where the platform
batches) and
through the local CLI: the good images all complete; each bad one is a permanent error, reported exactly
once (one ERROR line naming its key and kind), acknowledged so the platform never redelivers it, and
leaves no output behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.ops.cli import EXIT_FAILED
from tests.images import jpeg_bytes, open_bytes, png_rgba_bytes
from tests.log_capture import JsonLogs
from tests.rigs.base import FaultRig

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"


def polythumb(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, as a user runs it (its worker pool forks; this test process has threads)."""
    command = [sys.executable, "-c", "import sys; from core.ops.cli import main; sys.exit(main(sys.argv[1:]))", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


#: key -> (content type, body, error kind or None for a good image)
BATCH: dict[str, tuple[str, bytes, str | None]] = {
    "good/landscape.jpg": ("image/jpeg", jpeg_bytes(320, 240), None),
    "good/logo.png": ("image/png", png_rgba_bytes(200, 100), None),
    "bad/not-an-image.jpg": ("image/jpeg", (CORPUS / "broken-not-an-image-html.jpg").read_bytes(), "not_an_image"),
    "bad/truncated.jpg": ("image/jpeg", (CORPUS / "broken-truncated-2.jpg").read_bytes(), "truncated"),
    "bad/bomb.png": ("image/png", (CORPUS / "decompression-bomb-40000x40000.png").read_bytes(), "too_large"),
}
GOOD = [key for key, (_, _, kind) in BATCH.items() if kind is None]
BAD = {key: kind for key, (_, _, kind) in BATCH.items() if kind is not None}


def test_a_mixed_batch_completes_the_good_and_reports_each_bad_image_once(rig: FaultRig, json_logs: JsonLogs) -> None:
    notifications = [rig.upload(key, body, content_type) for key, (content_type, body, _) in BATCH.items()]

    deliveries = rig.deliver_batch(notifications)

    assert [d.retry for d in deliveries] == [False] * len(BATCH), "permanent errors are acknowledged, never retried"
    if rig.partial_batch:
        assert rig.last_batch_response == {"batchItemFailures": []}
    for key in GOOD:
        rig.assert_complete(key)
        assert json_logs.errors_for(key) == []
    for key, kind in BAD.items():
        rig.assert_absent(key)
        [error] = json_logs.errors_for(key)  # exactly one ERROR line per bad image
        assert (error["status"], error["error_kind"]) == ("failed", kind)
        assert key in error["message"]
    assert len([line for line in json_logs.lines() if line["severity"] == "ERROR"]) == len(BAD)


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    source = tmp_path / "photos"
    for key, (_, body, _) in BATCH.items():
        path = source / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return source


def test_the_local_cli_completes_the_good_and_reports_each_bad_image_once(source_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "thumbs"
    result = polythumb("run", str(source_dir), "--out", str(out), "--json", "--workers", "2", "--no-progress")

    assert result.returncode == EXIT_FAILED, result.stderr  # the run says something failed
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    by_key: dict[str, list[dict[str, object]]] = {}
    for record in records:
        by_key.setdefault(str(record["key"]), []).append(record)
    assert sorted(by_key) == sorted(BATCH), "one record per source"
    for key, kind in BAD.items():
        [record] = by_key[key]
        assert (record["status"], record["error_kind"]) == ("failed", kind)
    config = load_config({"THUMBS_DEST_BUCKET": str(out), "THUMBS_SIZES": "256x256"})
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and ".polythumb" not in p.parts)
    expected = sorted(output.key for good in GOOD for output in config.profiles.outputs_for(good))
    assert written == expected, "thumbnails of the good images only"
    for key in expected:
        open_bytes((out / key).read_bytes())  # whole images


def test_the_local_cli_prints_one_failure_line_per_bad_image(source_dir: Path, tmp_path: Path) -> None:
    result = polythumb("run", str(source_dir), "--out", str(tmp_path / "thumbs"), "--workers", "2", "--no-progress")

    assert result.returncode == EXIT_FAILED
    err = result.stderr.splitlines()
    for key, kind in BAD.items():
        lines = [line for line in err if line.startswith(f"failed: {key}:")]
        assert len(lines) == 1 and f"[{kind}]" in lines[0], err
    assert not [line for line in err if line.startswith("failed:") and any(g in line for g in GOOD)]
    assert "2 ok" in err[-1] and f"{len(BAD)} failed" in err[-1]
