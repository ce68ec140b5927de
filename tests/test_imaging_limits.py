"""The pixel limit: decompression bombs are refused from their headers, before any decoding."""

from __future__ import annotations

import io
import json
import struct
import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from benchmarks.memory import run_fresh
from core.errors import ImageTooLarge, TruncatedImage
from core.imaging import Box, Fit, probe_image, render_thumbnails
from core.imaging.types import MAX_PIXELS_CEILING
from tests.images import record_decodes

CORPUS = Path(__file__).parent / "data" / "corpus"
WARNING_ZONE = "decompression-bomb-warning-zone-10000x10000.png"
# A limit a real deployment might use; every bomb is far above it.
MAX_PIXELS = 50_000_000
PEAK_RSS_LIMIT_MB = 150
BOMBS = {
    "decompression-bomb-40000x40000.png": "40000x40000",
    "decompression-bomb.gif": "65535x66601",  # the first frame grows the 32x32 screen
    "decompression-bomb.ico": "65535x32767",  # the BMP entry's height counts its mask too
    # libavif refuses this file by itself ("BMFF parsing failed": over its own
    # 16384x16384 limit), which Pillow reports as an unidentified image. The
    # ispe property peek sees the declared size first, so it is ImageTooLarge.
    "decompression-bomb-17000x17000.avif": "17000x17000",
}

# Runs one render in a fresh interpreter and reports its outcome and peak memory.
RSS_PROBE = """
import json, resource, sys
from pathlib import Path
from core.errors import ImageError
from core.imaging import Box, Fit, render_thumbnails

data = Path(sys.argv[1]).read_bytes()
try:
    render_thumbnails(data, boxes=[Box(128, 128), Box(64, 64)], fit=Fit.CONTAIN, format="jpeg",
                      quality=None, strip_metadata=True, max_pixels=int(sys.argv[2]))
    outcome = "ok"
except ImageError as exc:
    outcome = type(exc).__name__
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# ru_maxrss is in KiB on Linux, in bytes on macOS.
peak_mb = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
print(json.dumps({"outcome": outcome, "peak_rss_mb": peak_mb}))
"""


def read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def render(data: bytes, *, max_pixels: int) -> list[Any]:
    return render_thumbnails(
        data,
        boxes=[Box(128, 128)],
        fit=Fit.CONTAIN,
        format="jpeg",
        quality=None,
        strip_metadata=True,
        max_pixels=max_pixels,
    )


def render_in_subprocess(name: str, *, max_pixels: int) -> dict[str, Any]:
    # A child of this (possibly large) pytest process would report pytest's peak RSS: run_fresh starts it from
    # a small launcher (see benchmarks.memory).
    probe = [sys.executable, "-c", RSS_PROBE, str(CORPUS / name), str(max_pixels)]
    completed = run_fresh(probe, timeout=120, check=True)
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds no pixel data (enough for a lazy open)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, tuple[int, int]]]:
    """(format, size) of every real decode during the test."""
    return record_decodes(monkeypatch)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_from_the_header_naming_size_and_limit(
    name: str, decodes: list[tuple[str | None, tuple[int, int]]]
) -> None:
    for call in (
        lambda: render(read(name), max_pixels=MAX_PIXELS),
        lambda: probe_image(read(name), max_pixels=MAX_PIXELS),
    ):
        with pytest.raises(ImageTooLarge) as raised:
            call()
        assert BOMBS[name] in str(raised.value)
        assert "50,000,000" in str(raised.value)
    assert decodes == [], "nothing was decoded"


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_without_allocating_their_pixels(name: str) -> None:
    result = render_in_subprocess(name, max_pixels=MAX_PIXELS)
    assert result["outcome"] == "ImageTooLarge"
    assert result["peak_rss_mb"] < PEAK_RSS_LIMIT_MB, result


def test_the_rss_probe_would_notice_a_decode() -> None:
    # Control for the test above: actually decoding the 100 Mpx PNG takes well
    # over the limit, so a bomb that slipped through to load() would fail it.
    result = render_in_subprocess(WARNING_ZONE, max_pixels=200_000_000)
    assert result["outcome"] == "ok"
    assert result["peak_rss_mb"] > PEAK_RSS_LIMIT_MB, result


def test_warning_zone_png_follows_max_pixels_not_pillow_thresholds() -> None:
    data = read(WARNING_ZONE)  # 100 Mpx: above Pillow's warning threshold, below its error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (thumbnail,) = render(data, max_pixels=200_000_000)
    assert (thumbnail.width, thumbnail.height) == (128, 128)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]

    with pytest.raises(ImageTooLarge, match=r"10000x10000 .*50,000,000"):
        render(data, max_pixels=MAX_PIXELS)
    with pytest.raises(ImageTooLarge):
        probe_image(data, max_pixels=MAX_PIXELS)


def test_the_limit_is_inclusive_and_exact() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), "teal").save(buffer, "JPEG")
    data = buffer.getvalue()
    assert render(data, max_pixels=10_000)[0].width == 100
    with pytest.raises(ImageTooLarge, match="100x100"):
        render(data, max_pixels=9_999)


def test_our_limit_replaces_pillows_fixed_ceiling() -> None:
    # 195 Mpx (a 200 MP phone photo is 16320x12240): over Pillow's default ceiling of ~179 Mpx.
    data = png_header_only(15_000, 13_000)
    # Under THUMBS_MAX_PIXELS it gets past every limit and fails only because it holds no pixel data.
    with pytest.raises(TruncatedImage):
        render(data, max_pixels=200_000_000)
    # A lower limit on the next call is honoured on its own terms, from the header.
    with pytest.raises(ImageTooLarge, match="15000x13000"):
        render(data, max_pixels=150_000_000)
    # Pillow's guard stays on, raised at import to fire only above any limit a configuration can set.
    assert Image.MAX_IMAGE_PIXELS is not None
    assert 2 * Image.MAX_IMAGE_PIXELS == MAX_PIXELS_CEILING
