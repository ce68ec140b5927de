"""The benchmark runs end to end on tiny inputs and writes its table, JSON and chart.

Only the machinery is checked (every section present, every field filled);
timings on tiny images mean nothing and are never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core import registry

ROOT = Path(__file__).parent.parent
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
TINY_INPUTS = {"jpeg-tiny", "jpeg-progressive-tiny", "jpeg-cmyk-tiny", "png-tiny", "png-rgba-tiny", "webp-tiny"}
HAS_HEIF = importlib.util.find_spec("pillow_heif") is not None
HAS_REAL_PHOTOS = importlib.util.find_spec("skimage") is not None  # its data files; never imported


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One tiny benchmark run: its output directory and its stdout."""
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "benchmarks", "--tiny", "--out", str(out)]
    if not HAS_MATPLOTLIB:
        command.append("--no-chart")
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return out, completed.stdout


@pytest.fixture(scope="module")
def results(bench: tuple[Path, str]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((bench[0] / "results.json").read_text(encoding="utf-8"))
    return loaded


def test_every_input_has_every_case_measured(results: dict[str, Any]) -> None:
    assert results["meta"]["suite"] == "tiny"
    assert {"python", "pillow", "libvips", "machine", "command", "repeats"} <= set(results["meta"])
    expected_inputs = TINY_INPUTS | ({"heic-tiny"} if HAS_HEIF else set())
    expected_inputs |= {"real-rocket-jpeg"} if HAS_REAL_PHOTOS else set()
    assert {photo["name"] for photo in results["photos"]} == expected_inputs
    has_vips = results["meta"]["libvips"] is not None
    for photo in results["photos"]:
        cases = photo["cases"]
        if photo["name"] == "heic-tiny":  # polythumb's own cases only: the seed and libvips cannot read HEIC
            assert {"pillow_256", "pillow_x3", "polythumb_256", "polythumb_x3"} <= set(cases)
            assert min(cases["polythumb_x3"]["psnr_db"]) > 20 and len(cases["polythumb_x3"]["out_bytes"]) == 3
            continue
        expected = {"floor_256", "floor_1024", "full_decode", "seed_256", "seed_x3", "pillow_256", "pillow_x3",
                    "polythumb_256", "polythumb_1024", "polythumb_x3"}  # fmt: skip
        if has_vips:
            expected |= {"vips_256", "vips_x3", "ref_256", "ref_x3"}
        assert expected <= set(cases), photo["name"]
        for name, case in cases.items():
            assert case["median_ms"] > 0 and len(case["runs_ms"]) == results["meta"]["repeats"], name
        for name in ("seed_256", "polythumb_256", "polythumb_x3"):
            assert all(size > 0 for size in cases[name]["out_bytes"])
            assert all(0 < psnr <= 99 for psnr in cases[name]["psnr_db"]), (photo["name"], name)
        # polythumb's thumbnails look like the reference (the seed's RGBA ones do not: it drops alpha).
        assert min(cases["polythumb_x3"]["psnr_db"]) > 20, photo["name"]
        assert len(cases["polythumb_x3"]["out_bytes"]) == 3
        assert set(photo["engine"]) == {"256", "1024", "x3"}


def test_the_sharp_peer_runs_beside_polythumb(results: dict[str, Any]) -> None:
    """With node and `npm ci` (sharp pinned in package-lock.json), every input also runs through sharp."""
    sharp = results["meta"]["sharp"]
    if "skipped" in sharp:
        pytest.skip(f"sharp not available here: {sharp['skipped']}")
    assert sharp["sharp"] and sharp["libvips"]
    for photo in results["photos"]:
        if photo["name"] == "heic-tiny":
            # sharp's prebuilt libvips has no HEVC decoder: the failure is recorded, not hidden.
            assert {"sharp_256", "sharp_x3", "sharpbest_x3"} <= set(photo["failed"]), photo["failed"]
            continue
        for name in ("sharp_256", "sharp_x3", "sharpbest_x3"):
            case = photo["cases"][name]
            assert case["median_ms"] > 0 and case["cpu_median_ms"] >= 0, (photo["name"], name)
            assert len(case["out_bytes"]) == (1 if name == "sharp_256" else 3)
            assert all(0 < psnr <= 99 for psnr in case["psnr_db"]), (photo["name"], name)
    webp = next(photo for photo in results["photos"] if photo["name"] == "webp-tiny")
    assert isinstance(webp["cases"]["sharp_x3"]["peak_rss_mb"], float)
    assert any(target.get("issue") == 14 for target in results["targets"])


def test_memory_is_probed_in_fresh_processes(results: dict[str, Any]) -> None:
    probed = {photo["name"]: photo["cases"]["seed_256"].get("peak_rss_mb") for photo in results["photos"]
              if "seed_256" in photo["cases"]}  # fmt: skip
    assert probed["jpeg-tiny"] is not None and probed["webp-tiny"] is not None
    assert all(isinstance(value, float) for value in probed.values() if value is not None)


def _installed(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(module) is not None for module in modules)
    except ModuleNotFoundError:  # a parent package is missing
        return False


def test_imports_and_throughput_are_reported(results: dict[str, Any]) -> None:
    providers = {entry["provider"]: entry for entry in results["imports"]}
    installed = {name: _installed(*spec.sdk_modules) for name, spec in registry.providers().items()}
    assert set(providers) == {name for name, present in installed.items() if present}
    for entry in providers.values():
        assert entry["entry_ms"] > 0 and entry["floor_ms"] > 0
        assert entry["foreign_sdk_modules"] == [], entry  # no provider drags in another's SDK
        assert entry["heavy"] and {"package", "self_ms"} <= set(entry["heavy"][0])
    speed = results["throughput"]
    assert speed["images"] == 40
    assert set(speed["images_per_s"]) == {"1", "2"} and speed["speedup_2_vs_1"] > 0


def test_targets_table_and_markdown(results: dict[str, Any], bench: tuple[Path, str]) -> None:
    out, stdout = bench
    texts = [target["target"] for target in results["targets"]]
    assert any("3 sizes" in text for text in texts) and any("decode floor" in text for text in texts)
    assert all(target["met"] in (True, False, None) for target in results["targets"])
    for title in ("Time, ms", "Engines side by side", "Peak RSS", "polythumb run", "Targets"):
        assert title in stdout
    markdown = (out / "report.md").read_text(encoding="utf-8")
    # The sharp tables: issue 25's side by side (wall, CPU, RSS), times, and memory and quality.
    peer_tables = "skipped" not in results["meta"]["sharp"]
    assert markdown.count("| input |") == 3 + 3 * peer_tables
    if peer_tables:
        assert "vs sharp, one interleaved run" in markdown and "Targets (issue 25)" in markdown
    if results["imports"]:  # empty where no provider SDK is installed (the core-only session)
        assert "Entrypoint import" in stdout and "| provider |" in markdown


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="the chart needs matplotlib (nox -s bench installs it)")
def test_the_chart_is_a_png(bench: tuple[Path, str]) -> None:
    chart = bench[0] / "chart.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.stat().st_size > 10_000


def test_the_docs_page_is_rewritten_from_the_run_between_its_markers(results: dict[str, Any], tmp_path: Path) -> None:
    from benchmarks import docs_page

    page = tmp_path / "performance.md"
    original = (ROOT / docs_page.DOCS_PAGE).read_text(encoding="utf-8")  # the real page carries the markers
    page.write_text(original, encoding="utf-8")
    docs_page.write(page, results)
    written = page.read_text(encoding="utf-8")
    before, rest = written.split(docs_page.START)
    generated, after = rest.split(docs_page.END)
    assert before == original.split(docs_page.START)[0] and after == original.split(docs_page.END)[1]
    assert results["meta"]["date"] in generated and "Several formats from one decode" in generated
    assert "issue" not in generated.lower() and "load average" not in generated  # user documentation
    if "skipped" not in results["meta"]["sharp"]:
        assert "vs sharp, one interleaved run" in generated and "Targets: as deployed against sharp" in generated
    docs_page.write(page, results)  # again: the same page, nothing accumulates
    assert page.read_text(encoding="utf-8") == written


def test_a_page_without_the_markers_is_refused(results: dict[str, Any], tmp_path: Path) -> None:
    from benchmarks import docs_page

    page = tmp_path / "performance.md"
    page.write_text("# Performance\n\nTyped figures.\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="markers"):
        docs_page.write(page, results)
    assert page.read_text(encoding="utf-8") == "# Performance\n\nTyped figures.\n"
