"""The several-formats benchmark case runs and reports (machinery only: timings are never asserted)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import formats, photos
from benchmarks.report import as_text, formats_table


def test_formats_case_measures_both_renders_and_prints_the_ratio(tmp_path: Path) -> None:
    tiny = photos.Photo("jpeg-tiny", "jpeg", 360, 240)
    result = formats.measure(photos.cached(tiny, tmp_path), repeats=1, budget_s=0.0)

    cases = result["cases"]
    assert [cases[name]["formats"] for name in ("avif_only", "webp_only", "jpeg_only")] == [
        ["avif"],
        ["webp"],
        ["jpeg"],
    ]
    assert cases["three_formats"]["formats"] == ["avif", "webp", "jpeg"]
    assert all(len(cases[name]["out_bytes"]) == 3 for name in ("avif_only", "webp_only", "jpeg_only"))  # 3 sizes
    assert len(cases["three_formats"]["out_bytes"]) == 9  # 3 sizes x 3 formats, from one decode
    assert all(size > 0 for size in cases["three_formats"]["out_bytes"])
    assert result["ratio"] == cases["three_formats"]["median_ms"] / cases["jpeg_only"]["median_ms"]
    assert cases["three_formats_fastest"]["efforts"] == [0, 0, None]
    assert result["fastest_cpu_ratio"] == cases["three_formats_fastest"]["cpu_median_ms"] / cases["jpeg_only"][
        "cpu_median_ms"
    ]
    # The effort reaches the encoder: libwebp's method 0 writes other bytes than its default, method 4.
    assert cases["webp_effort0_only"]["out_bytes"] != cases["webp_only"]["out_bytes"]
    text = as_text(formats_table(result))
    assert "avif, webp, jpeg" in text and "<= 2.5x" in text and "webp (effort 0)" in text
