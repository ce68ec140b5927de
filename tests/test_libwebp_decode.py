"""The libvips engine decodes still WebPs with the libwebp Pillow loaded (core/imaging/libwebp.py).

libvips' ``webpload`` (in the pyvips and sharp binaries) decodes a 12 MP WebP
~25% slower than Pillow's libwebp and holds two RGBA frames of the decoded
size; the engine now has Pillow's libwebp write RGB(A) straight into the one
buffer it resizes from. These tests check that ``webpload`` is no longer
called, that every thumbnail is byte for byte what the libvips loader made
(lossy, lossless, alpha, scaled and full size, every fit and format), that the
decoded buffer outlives the images derived from it, that errors are
classified as before, that the engine falls back to libvips' loader where
Pillow's libwebp is not usable, and that the render's peak memory dropped.
"""

from __future__ import annotations

import gc
import io
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from benchmarks.memory import run_fresh
from core.errors import TruncatedImage
from core.imaging import Box, Fit, libwebp, render_thumbnails, vips_engine
from tests.images import encode, gradient

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
ROOT = Path(__file__).resolve().parents[1]

needs_vips = pytest.mark.skipif(
    not vips_engine.available(), reason="the libvips engine is optional: pip install 'polythumb[fast]'"
)
pytestmark = needs_vips


def _textured(width: int, height: int, *, seed: int = 3) -> Image.Image:
    """A gradient with noise: a WebP whose decode and scaling are not trivial."""
    rng = random.Random(seed)
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(3 * width * height)).point(lambda v: v // 8)
    return Image.blend(gradient(width, height), noise, 0.25)


def _webp_rgba(width: int, height: int) -> bytes:
    image = _textured(width, height).convert("RGBA")
    image.putalpha(gradient(width, height, "L"))
    return encode(image, "WEBP", quality=80)


INPUTS = {
    "lossy": lambda: encode(_textured(1200, 800), "WEBP", quality=85),
    "lossy-alpha": lambda: _webp_rgba(900, 600),
    "lossless": lambda: encode(_textured(640, 480), "WEBP", lossless=True),
    "corpus-lossy": (CORPUS / "webp-lossy.webp").read_bytes,
    "corpus-alpha": (CORPUS / "webp-lossy-alpha.webp").read_bytes,
    "corpus-lossless": (CORPUS / "webp-lossless.webp").read_bytes,
}
#: Contain at three sizes (scaled decode, one read), a box larger than the source (full-size decode, encoded as
#: it is: the decoded image is copied to memory), cover, and smart (reads the decoded pixels twice).
LAYOUTS = {
    "contain-x3": (Fit.CONTAIN, (Box(1024, 1024), Box(512, 512), Box(128, 128))),
    "contain-larger-than-source": (Fit.CONTAIN, (Box(4000, 4000), Box(64, 64))),
    "cover": (Fit.COVER, (Box(200, 100),)),
    "smart": (Fit.SMART, (Box(96, 96),)),
}


def _render(data: bytes, fit: Fit, boxes: tuple[Box, ...], fmt: str) -> list[bytes]:
    thumbnails = render_thumbnails(data, boxes=list(boxes), fit=fit, format=fmt, quality=None, strip_metadata=False,
                                   max_pixels=10**8, engine="vips")  # fmt: skip
    return [thumbnail.body for thumbnail in thumbnails]


@pytest.fixture
def webpload_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The scales libvips' own WebP loader is called with."""
    vips = vips_engine.runtime()
    calls: list[float] = []
    original = vips.Image.webpload_source

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("scale", 1.0))
        return original(*args, **kwargs)

    monkeypatch.setattr(vips.Image, "webpload_source", counted)
    yield calls


@pytest.fixture
def without_pillows_libwebp(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a process where Pillow's libwebp cannot be found: libvips' loader decodes."""
    monkeypatch.setattr(libwebp, "_libwebp", lambda: None)
    yield


def test_pillows_libwebp_is_found_here() -> None:
    # The engine would silently keep libvips' loader otherwise; Pillow's wheels ship libwebp on Linux.
    if sys.platform != "linux":
        pytest.skip("the library is found through /proc/self/maps")
    assert libwebp.available()


@pytest.mark.parametrize("name", list(INPUTS))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_thumbnails_are_byte_for_byte_the_libvips_loaders(
    name: str, layout: str, webpload_calls: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not libwebp.available():
        pytest.skip("Pillow's libwebp is not found here")
    data = INPUTS[name]()
    fit, boxes = LAYOUTS[layout]
    for fmt in ("png", "jpeg", "webp"):
        new = _render(data, fit, boxes, fmt)
        assert webpload_calls == [], "libvips' WebP loader still decodes"
        with monkeypatch.context() as patched:
            patched.setattr(libwebp, "_libwebp", lambda: None)
            old = _render(data, fit, boxes, fmt)
        assert len(webpload_calls) == 1
        webpload_calls.clear()
        assert new == old, f"{name} {layout} {fmt}: the thumbnails differ from the libvips loader's"


def test_the_decoded_buffer_outlives_every_image_derived_from_it() -> None:
    """A source encoded as it is gets copy_memory()'d; pyvips drops its reference to a buffer there.

    Without the copy taken in :func:`vips_engine.load`, libvips read the freed buffer (a crash, or garbage).
    """
    if not libwebp.available():
        pytest.skip("Pillow's libwebp is not found here")
    data = encode(_textured(300, 200), "WEBP", quality=90)
    expected = Image.open(io.BytesIO(data)).convert("RGB")
    for _ in range(5):
        (body,) = _render(data, Fit.CONTAIN, (Box(1000, 1000),), "png")
        gc.collect()
        thumbnail = Image.open(io.BytesIO(body)).convert("RGB")
        assert thumbnail.size == expected.size
        assert thumbnail.tobytes() == expected.tobytes()  # full size: libwebp's pixels, as Pillow decodes them


def _corrupt_payload(data: bytes) -> bytes:
    """The headers intact (Pillow opens it), the VP8 bitstream after them garbage."""
    return data[:200] + b"\xff" * (len(data) - 200)


@pytest.mark.parametrize("loader", ["pillows-libwebp", "libvips-loader"])
def test_a_corrupt_webp_is_a_truncated_image_whichever_library_decodes(
    loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if loader == "libvips-loader":
        monkeypatch.setattr(libwebp, "_libwebp", lambda: None)
    elif not libwebp.available():
        pytest.skip("Pillow's libwebp is not found here")
    data = encode(_textured(800, 600), "WEBP", quality=85)
    with pytest.raises(TruncatedImage, match="image data is truncated or corrupt"):
        _render(_corrupt_payload(data), Fit.CONTAIN, (Box(128, 128),), "jpeg")
    with pytest.raises(TruncatedImage):  # cut short: Pillow's header read already refuses it
        _render(data[: len(data) // 2], Fit.CONTAIN, (Box(128, 128),), "jpeg")


def test_a_libwebp_of_another_abi_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    if not libwebp.available():
        pytest.skip("Pillow's libwebp is not found here")
    libwebp._libwebp.cache_clear()
    monkeypatch.setattr(libwebp, "_DECODER_ABI", 0x0309)  # a future major ABI: libwebp refuses its structures
    try:
        assert not libwebp.available()
    finally:
        monkeypatch.undo()
        libwebp._libwebp.cache_clear()
    assert libwebp.available()


_PEAK_SCRIPT = """
import json, resource, sys
from core.imaging import Box, Fit, libwebp, render_thumbnails
if sys.argv[2] == "libvips-loader":
    libwebp._libwebp = lambda: None
def render(data):
    render_thumbnails(data, boxes=[Box(1024, 1024), Box(512, 512), Box(128, 128)], fit=Fit.CONTAIN, format="jpeg",
                      quality=None, strip_metadata=True, max_pixels=10**8, engine="vips")
data = open(sys.argv[1], "rb").read()
render(open(sys.argv[3], "rb").read())  # warm-up: code, codec tables, threads
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
render(data)
print(json.dumps({"mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def test_the_render_holds_one_decoded_buffer_not_two_rgba_frames(tmp_path: Path) -> None:
    """3000x2000 to 1024/512/128: decoded at 1536x1024 (WEBP_DRAFT_GAP). libvips' loader holds an RGBA frame and
    an RGBA canvas of that size (6.3 MB each) and the RGB copy the resize reads; now one RGB buffer (4.7 MB)."""
    if not libwebp.available():
        pytest.skip("Pillow's libwebp is not found here")
    source, warm = tmp_path / "photo.webp", tmp_path / "warm.webp"
    source.write_bytes(encode(_textured(3000, 2000), "WEBP", quality=85))
    warm.write_bytes(encode(_textured(96, 64), "WEBP", quality=85))
    peaks: dict[str, float] = {}
    for _ in range(3):  # the least of three fresh processes each: a peak moves by 2-3 MB from run to run
        for loader in ("libvips-loader", "pillows-libwebp"):
            completed = run_fresh([sys.executable, "-c", _PEAK_SCRIPT, str(source), loader, str(warm)], timeout=120,
                                  check=True)  # fmt: skip
            peak = json.loads(completed.stdout)["mb"]
            peaks[loader] = min(peaks.get(loader, peak), peak)
    rgba_frame_mb = 1536 * 1024 * 4 / 2**20
    assert peaks["pillows-libwebp"] <= peaks["libvips-loader"] - rgba_frame_mb, peaks
