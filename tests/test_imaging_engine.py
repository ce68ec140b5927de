"""The engine choice, the libvips engine's own guarantees, and the shared resize plan.

The imaging behaviour under each engine (orientation, colour, alpha, metadata,
limits, errors) is checked by re-running the imaging, corpus and pipeline
suites with the engine forced: see ``tests/test_imaging_engine_suites.py``.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from benchmarks.memory import run_fresh
from core.config import load_config
from core.errors import ConfigError
from core.imaging import Box, Fit, geometry, plan, render, render_thumbnails, sniff, vips_engine
from core.imaging.engine import engine_for
from core.ops.runner import run_directory
from tests.images import gradient

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "corpus"
MAX_PIXELS = 200_000_000
needs_vips = pytest.mark.skipif(
    not vips_engine.available(), reason="the libvips engine is optional: pip install 'polythumb[fast]'"
)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def chosen(data: bytes, *sizes: int, fit: Fit = Fit.CONTAIN, engine: str = "auto") -> str:
    return engine_for(data, boxes=[Box(size, size) for size in sizes], fit=fit, max_pixels=MAX_PIXELS, engine=engine)


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    """A 1600x1200 (1.9 Mpx) JPEG: large enough for ``auto`` to consider libvips."""
    return encode(gradient(1600, 1200), "JPEG", quality=90)


# --- choosing the engine ---------------------------------------------------------------------------


def test_pillow_is_forced_by_the_render_call(photo_jpeg: bytes) -> None:
    assert chosen(photo_jpeg, 1024, engine="pillow") == "pillow"


def test_an_unknown_engine_is_a_config_error(photo_jpeg: bytes) -> None:
    with pytest.raises(ConfigError, match="engine must be one of auto, pillow, vips"):
        chosen(photo_jpeg, 256, engine="imagemagick")


def test_the_environment_does_not_choose_the_engine_per_render(
    monkeypatch: pytest.MonkeyPatch, photo_jpeg: bytes
) -> None:
    # The engine is a validated setting (THUMBS_ENGINE, read at start): a variable set later changes nothing.
    monkeypatch.setenv("POLYTHUMB_ENGINE", "imagemagick")
    monkeypatch.setenv("THUMBS_ENGINE", "imagemagick")
    assert chosen(photo_jpeg, 1024, engine="pillow") == "pillow"


def test_forcing_vips_without_it_names_the_extra(monkeypatch: pytest.MonkeyPatch, photo_jpeg: bytes) -> None:
    monkeypatch.setattr(vips_engine, "unavailable_reason", lambda: "pyvips is not installed")
    with pytest.raises(ConfigError, match=r"polythumb\[fast\]"):
        render_thumbnails(
            photo_jpeg, boxes=[Box(64, 64)], fit=Fit.CONTAIN, format="jpeg", quality=None,
            strip_metadata=True, max_pixels=MAX_PIXELS, engine="vips",
        )  # fmt: skip
    # At start, the setting is refused naming itself and the extra (not one failed image after another).
    monkeypatch.setattr(vips_engine, "import_failure", lambda: "pyvips is not installed")
    with pytest.raises(ConfigError, match=r"THUMBS_ENGINE=vips .*pyvips is not installed.*polythumb\[fast\]"):
        load_config({"THUMBS_ENGINE": "vips"})


def test_auto_without_libvips_is_always_pillow(monkeypatch: pytest.MonkeyPatch, photo_jpeg: bytes) -> None:
    monkeypatch.setattr(vips_engine, "available", lambda: False)
    assert chosen(photo_jpeg, 1024) == "pillow"
    assert chosen(encode(gradient(1600, 1200), "WEBP"), 256) == "pillow"


@needs_vips
def test_auto_follows_the_benchmark(photo_jpeg: bytes) -> None:
    # JPEG: a small reduced decode is bound by the decode both engines share; a large one by the resize.
    assert chosen(photo_jpeg, 256) == "pillow"  # decoded at 1/2: 800x600, 0.48 Mpx
    assert chosen(photo_jpeg, 128, 512) == "vips"  # decoded whole: 1.9 Mpx (measured 31.7 vs 34.7 ms)
    assert chosen(encode(gradient(1000, 750), "JPEG"), 128, 512) == "vips"  # 0.75 Mpx: 21.8 vs 29.1 ms
    # 640x427, 3 sizes: every thumbnail from a 0.27 Mpx decode, where Pillow wins (17.8 vs 21.4 ms).
    assert chosen(encode(gradient(640, 427), "JPEG"), 128, 512, 1024) == "pillow"
    assert chosen(photo_jpeg, 128, 1024) == "vips"
    assert chosen(photo_jpeg, 600, fit=Fit.COVER) == "vips"
    # Large truecolour PNG and still WebP: libvips, whatever the size asked.
    assert chosen(encode(gradient(1600, 1200, "RGBA"), "PNG"), 64) == "vips"
    assert chosen(encode(gradient(1600, 1200), "WEBP"), 64) == "vips"
    # Palette PNGs, small sources and formats libvips does not decode for us: Pillow.
    assert chosen(encode(gradient(1600, 1200).convert("P"), "PNG"), 64) == "pillow"
    assert chosen(encode(gradient(400, 300), "PNG"), 64) == "pillow"  # 0.12 Mpx
    assert chosen(encode(gradient(1600, 1200), "TIFF"), 1024) == "pillow"
    assert chosen((CORPUS / "webp-animated.webp").read_bytes(), 64) == "pillow"


@needs_vips
def test_forced_vips_covers_every_source_it_decodes_like_pillow() -> None:
    for name in ("jpeg-cmyk.jpg", "png-palette-trns.png", "png-16bit-gray-trns.png", "webp-lossy-alpha.webp"):
        assert chosen((CORPUS / name).read_bytes(), 64, engine="vips") == "vips", name
    for name in ("webp-animated.webp", "gif-transparency.gif", "tiff-cmyk.tif", "broken-truncated.png"):
        assert chosen((CORPUS / name).read_bytes(), 64, engine="vips") == "pillow", name


@needs_vips
def test_a_source_with_a_huge_icc_profile_stays_with_pillow() -> None:
    # libvips would copy a hostile 16 MB "profile" once more; real profiles are under 600 KB.
    image = gradient(64, 48)
    assert chosen(encode(image, "JPEG", icc_profile=b"\xa5" * 500_000), 64, engine="vips") == "vips"
    huge = encode(image, "JPEG", icc_profile=b"\xa5" * (vips_engine.MAX_ICC_BYTES + 1))
    assert chosen(huge, 64, engine="vips") == "pillow"


# --- what the libvips engine guarantees --------------------------------------------------------------


@needs_vips
@pytest.mark.parametrize(("width", "box", "expected"), [(4000, 256, 500), (4000, 150, 500), (4000, 1024, 2000),
                                                        (4000, 1100, 4000)])  # fmt: skip
def test_vips_shrinks_a_jpeg_on_load_exactly_as_pillow_drafts(
    monkeypatch: pytest.MonkeyPatch, width: int, box: int, expected: int
) -> None:
    data = encode(gradient(width, width * 3 // 4), "JPEG", quality=80)
    loaded: list[int] = []
    pyvips = vips_engine._pyvips()
    assert pyvips is not None
    original = pyvips.Image.jpegload_source

    def recording(source: Any, **options: Any) -> Any:
        image = original(source, **options)
        loaded.append(image.width)
        return image

    monkeypatch.setattr(pyvips.Image, "jpegload_source", recording)
    render_thumbnails(data, boxes=[Box(box, box)], fit=Fit.CONTAIN, format="jpeg", quality=None,
                      strip_metadata=True, max_pixels=MAX_PIXELS, engine="vips")  # fmt: skip
    with Image.open(io.BytesIO(data)) as image:
        request = geometry.draft_request(image.size, [Box(box, box)], Fit.CONTAIN, orientation=1,
                                         reducing_gap=render.DRAFT_REDUCING_GAP)  # fmt: skip
        image.draft(None, request)
        assert image.size[0] == expected
    assert loaded == [expected]


@needs_vips
def test_vips_renders_a_large_bilevel_png_without_holding_its_pixels() -> None:
    """The 100 Mpx bilevel PNG: Pillow holds its raster (over 150 MB), libvips streams it."""
    script = (
        "import json, os, resource, sys\n"
        "from core.imaging import Box, Fit, render_thumbnails\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "(t,) = render_thumbnails(data, boxes=[Box(128, 128)], fit=Fit.CONTAIN, format='jpeg', quality=None,\n"
        "                         strip_metadata=True, max_pixels=200_000_000, engine='vips')\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'size': [t.width, t.height], 'mb': peak}))\n"
    )
    path = CORPUS / "decompression-bomb-warning-zone-10000x10000.png"
    completed = run_fresh([sys.executable, "-c", script, str(path)], timeout=120, check=True)
    result = json.loads(completed.stdout)
    assert result["size"] == [128, 128]
    assert result["mb"] < 150, result  # Pillow needs more than 150 MB (test_imaging_limits' control)


def _render_in_child(data: bytes, queue: Any) -> None:
    queue.put((engine_for(data, boxes=[Box(1024, 1024)], fit=Fit.CONTAIN, max_pixels=MAX_PIXELS),
               len(render_thumbnails(data, boxes=[Box(1024, 1024)], fit=Fit.CONTAIN, format="jpeg", quality=None,
                                     strip_metadata=True, max_pixels=MAX_PIXELS))))  # fmt: skip


@needs_vips
def test_a_child_forked_after_libvips_started_renders_with_pillow(photo_jpeg: bytes) -> None:
    # libvips' worker threads do not survive fork(); a child using it would wait for them forever.
    assert chosen(photo_jpeg, 1024) == "vips"
    render_thumbnails(photo_jpeg, boxes=[Box(1024, 1024)], fit=Fit.CONTAIN, format="jpeg", quality=None,
                      strip_metadata=True, max_pixels=MAX_PIXELS)  # fmt: skip
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_render_in_child, args=(photo_jpeg, queue))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the forked child hung or failed"
    assert queue.get(timeout=5) == ("pillow", 1)


@needs_vips
def test_run_directory_after_libvips_started_uses_fresh_workers(photo_jpeg: bytes, tmp_path: Path) -> None:
    render_thumbnails(photo_jpeg, boxes=[Box(1024, 1024)], fit=Fit.CONTAIN, format="jpeg", quality=None,
                      strip_metadata=True, max_pixels=MAX_PIXELS)  # fmt: skip
    source = tmp_path / "src"
    source.mkdir()
    for index in range(3):
        (source / f"photo-{index}.jpg").write_bytes(photo_jpeg)
    config = load_config({"THUMBS_DEST_BUCKET": str(tmp_path / "out"), "THUMBS_SIZES": "1024x1024"})
    summary = run_directory(source, config, workers=2)
    assert (summary.ok, summary.failed, summary.written) == (3, 0, 3)


# --- the plan both engines follow ----------------------------------------------------------------------


@pytest.mark.parametrize("fit", list(Fit))
def test_a_plan_in_stored_orientation_is_the_displayed_plan_rotated(fit: Fit) -> None:
    boxes = [Box(300, 200), Box(64, 64), Box(100, 300), Box(40, 30)]
    displayed = plan.plan_resizes((1000, 750), source_size=(4000, 3000), boxes=boxes, fit=fit, reuse_factor=2.0)
    stored = plan.plan_resizes((750, 1000), source_size=(3000, 4000), boxes=boxes, fit=fit, reuse_factor=2.0,
                               swap=True)  # fmt: skip
    assert [step.box for step in stored] == [step.box for step in displayed]
    assert [step.size[::-1] for step in stored] == [step.size for step in displayed]
    assert [step.source for step in stored] == [step.source for step in displayed]


def test_the_plan_derives_each_box_from_the_smallest_adequate_result() -> None:
    steps = plan.plan_resizes(
        (2000, 1500), source_size=(4000, 3000), boxes=[Box(256, 256), Box(512, 512), Box(64, 64), Box(128, 128)],
        fit=Fit.CONTAIN, reuse_factor=2.0,
    )  # fmt: skip
    assert [(step.box.width, step.size, step.source) for step in steps] == [
        (512, (512, 384), plan.DECODED),
        (256, (256, 192), 1),
        (128, (128, 96), 2),
        (64, (64, 48), 3),
    ]


@pytest.mark.parametrize(
    ("size", "request_size"),
    [
        ((4000, 3000), (512, 384)),
        ((4000, 3000), (2048, 1536)),
        ((4000, 3000), (400, 300)),
        ((8640, 5760), (2048, 1366)),
    ],
)
def test_jpeg_scale_is_pillows_draft_choice(size: tuple[int, int], request_size: tuple[int, int]) -> None:
    with Image.open(io.BytesIO(encode(Image.new("RGB", size), "JPEG"))) as image:
        image.draft(None, request_size)
        scale = geometry.jpeg_scale(size, request_size)
        assert image.size == (-(-size[0] // scale), -(-size[1] // scale))


# --- PNG chunk walk ----------------------------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(*after_pixels: bytes) -> bytes:
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    pixels = _chunk(b"IDAT", zlib.compress(b"\x00\x80"))
    return b"\x89PNG\r\n\x1a\n" + header + pixels + b"".join(after_pixels) + _chunk(b"IEND", b"")


def test_png_header_tells_all_unless_metadata_follows_the_pixels() -> None:
    assert sniff.png_header_tells_all(_png())
    assert sniff.png_header_tells_all(_png(_chunk(b"tEXt", b"Comment\0hello"), _chunk(b"tIME", bytes(7))))
    assert not sniff.png_header_tells_all(_png(_chunk(b"eXIf", b"MM\0*")))
    assert not sniff.png_header_tells_all(_png(_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x/>")))
    assert not sniff.png_header_tells_all(_png(_chunk(b"zTXt", b"Raw profile type exif\0\0x")))
    assert not sniff.png_header_tells_all(_png()[:-6])  # cut short inside IEND
    assert not sniff.png_header_tells_all(b"GIF89a")
    assert Image.open(io.BytesIO(_png())).size == (1, 1)  # the helper makes real PNGs


@needs_vips
def test_checking_thumbs_engine_vips_at_start_leaves_forked_workers_the_engine(tmp_path: Path) -> None:
    """The start-time check only imports pyvips: a worker forked after it still renders with libvips."""
    script = (
        "import io, os, sys\n"
        "from core.config import load_config\n"
        "from core.imaging import Box, Fit\n"
        "from core.imaging.engine import engine_for\n"
        "config = load_config({'THUMBS_ENGINE': 'vips'})\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    print(engine_for(data, boxes=[Box(64, 64)], fit=Fit.CONTAIN, max_pixels=10**8, engine=config.engine))\n"
        "    sys.stdout.flush()\n"
        "    os._exit(0)\n"
        "os.waitpid(child, 0)\n"
    )
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(gradient(64, 48), "JPEG"))
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.strip() == "vips", done.stderr


# --- the libvips engine stays in libvips ----------------------------------------------------------------


@needs_vips
@pytest.mark.parametrize("strip", [True, False], ids=["strip", "keep"])
def test_the_libvips_engine_renders_without_handing_pixels_to_pillow(
    monkeypatch: pytest.MonkeyPatch, strip: bool
) -> None:
    """Orientation, ICC to sRGB, CMYK, alpha and every encoder run in libvips: Pillow only reads headers."""

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the libvips engine handed pixels to Pillow")

    for name in ("frombytes", "frombuffer", "new"):
        monkeypatch.setattr(Image, name, refused)
    for method in ("save", "transpose", "convert", "resize", "load"):
        monkeypatch.setattr(Image.Image, method, refused)
    from PIL import ImageCms

    monkeypatch.setattr(ImageCms, "applyTransform", refused)
    sources = ("exif-orientation-6.jpg", "jpeg-icc-adobe-rgb.jpg", "jpeg-cmyk.jpg", "png-rgba.png", "png-la.png",
               "png-16bit-gray-trns.png", "webp-lossy-alpha.webp")  # fmt: skip
    for name in sources:
        data = (CORPUS / name).read_bytes()
        for fmt in ("jpeg", "png", "webp", "avif"):
            (thumbnail,) = render_thumbnails(data, boxes=[Box(48, 48)], fit=Fit.CONTAIN, format=fmt, quality=None,
                                             strip_metadata=strip, max_pixels=MAX_PIXELS, engine="vips")  # fmt: skip
            assert thumbnail.body and max(thumbnail.width, thumbnail.height) == 48, (name, fmt)
