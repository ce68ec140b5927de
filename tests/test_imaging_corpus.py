"""Every file of the tricky-image corpus ends as a correct thumbnail or the right error.

The expectations table is explicit so a regression in either direction fails:
a file that starts raising, or a broken file that starts "succeeding".
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest
from PIL import Image

from core.errors import ImageError, ImageTooLarge, NotAnImage, TruncatedImage, UnsupportedImage
from core.imaging import CONTENT_TYPES, FORMATS, Box, Fit, probe_image, render_thumbnails
from core.imaging.geometry import contain_size
from tests.images import record_decodes

CORPUS = Path(__file__).parent / "data" / "corpus"
# Above the 10000x10000 "warning zone" PNG (100 Mpx), below every real bomb.
MAX_PIXELS = 120_000_000
BOXES = [Box(128, 128), Box(64, 64)]
PILLOW_NAME = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}
HEIF_INSTALLED = importlib.util.find_spec("pillow_heif") is not None

OK = "ok"
EXPECTED: dict[str, str | type[ImageError]] = {
    "avif-alpha.avif": OK,
    "avif-basic.avif": OK,
    "avif-irot-imir.avif": OK,
    "bmp-pal8-rle.bmp": OK,
    "bmp-rgb24.bmp": OK,
    "bmp-rgba32.bmp": OK,
    "broken-not-an-image-html.jpg": NotAnImage,
    "broken-truncated-2.jpg": TruncatedImage,
    "broken-truncated-end-chunk.png": TruncatedImage,
    "broken-truncated.jpg": TruncatedImage,
    "broken-truncated.png": TruncatedImage,
    "broken-zero-byte.jpg": NotAnImage,
    # libavif alone refuses this file ("BMFF parsing failed"), which Pillow would
    # report as unidentified; the ispe peek classifies it as too large first.
    "decompression-bomb-17000x17000.avif": ImageTooLarge,
    "decompression-bomb-40000x40000.png": ImageTooLarge,
    "decompression-bomb-warning-zone-10000x10000.png": OK,
    "decompression-bomb.gif": ImageTooLarge,
    "decompression-bomb.ico": ImageTooLarge,
    "exif-corrupt-bad-tiff-header.jpg": OK,
    "exif-corrupt-dpi-type.jpg": OK,
    "exif-corrupt-truncated-ifd.jpg": OK,
    "exif-orientation-2.jpg": OK,
    "exif-orientation-3.jpg": OK,
    "exif-orientation-4.jpg": OK,
    "exif-orientation-5.jpg": OK,
    "exif-orientation-6-nonsquare.jpg": OK,
    "exif-orientation-6.jpg": OK,
    "exif-orientation-7.jpg": OK,
    "exif-orientation-8.jpg": OK,
    "gif-animated-dispose-bg.gif": OK,
    "gif-animated.gif": OK,
    "gif-transparency.gif": OK,
    # Readable with the polythumb[heif] extra (pillow-heif), refused as unsupported without it.
    "heic-hevc.heic": OK if HEIF_INSTALLED else UnsupportedImage,
    "ico-256-png.ico": OK,
    "ico-multisize.ico": OK,
    "jpeg-cmyk-ycck-adobe.jpg": OK,
    "jpeg-cmyk.jpg": OK,
    "jpeg-gps-exif-iphone.jpg": OK,
    "jpeg-gps-exif.jpg": OK,
    "jpeg-grayscale.jpg": OK,
    "jpeg-icc-adobe-rgb.jpg": OK,
    "jpeg-icc-big-multisegment.jpg": OK,
    "jpeg-icc-xyb-jpegli.jpg": OK,
    "jpeg-progressive.jpg": OK,
    "png-16bit-gray-trns.png": OK,
    "png-16bit-gray.png": OK,
    "png-16bit-rgb.png": OK,
    "png-interlaced-adam7-rgb.png": OK,
    "png-interlaced-adam7-rgba.png": OK,
    "png-la.png": OK,
    "png-palette-trns.png": OK,
    "png-rgba.png": OK,
    "tiff-16bit-gray-bigendian-satellite.tiff": OK,
    "tiff-16bit-gray.tif": OK,
    "tiff-16bit-rgb.tiff": OK,
    "tiff-cmyk.tif": OK,
    "tiff-multipage-g4-fax.tiff": OK,
    "tiff-multipage.tiff": OK,
    "webp-animated.webp": OK,
    "webp-lossless.webp": OK,
    "webp-lossy-alpha.webp": OK,
    "webp-lossy.webp": OK,
}
NOT_IMAGES = {"MANIFEST.tsv", "sources.json", "README.md", "SOURCES.md"}
RENDERABLE = sorted(name for name, outcome in EXPECTED.items() if outcome == OK)


def corpus_files() -> list[str]:
    return sorted(path.name for path in CORPUS.iterdir() if path.name not in NOT_IMAGES)


def read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_expectations_cover_exactly_the_corpus() -> None:
    assert sorted(EXPECTED) == corpus_files()
    assert len(EXPECTED) == 61


def test_corpus_keeps_its_provenance() -> None:
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    manifest = (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8")
    for name in EXPECTED:
        assert f"images/{name}\t" in manifest, name
    for licence in ("HPND", "PngSuite", "bmpsuite", "BSD-3", "MPL-2.0", "LGPL-2.1", "Artistic"):
        assert licence in sources


def _check_thumbnail_bytes(body: bytes, output_format: str, *, width: int, height: int) -> Image.Image:
    with Image.open(io.BytesIO(body)) as reopened:
        assert reopened.format == PILLOW_NAME[output_format]
        assert reopened.size == (width, height)
        reopened.load()  # the whole body decodes, not just its header
        return reopened.copy()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_renders_or_raises_the_classified_error(name: str) -> None:
    data = read(name)
    expected = EXPECTED[name]
    if expected != OK:
        assert isinstance(expected, type)
        if expected is TruncatedImage:
            # The header is intact; only decoding finds the data cut short.
            assert probe_image(data, max_pixels=MAX_PIXELS).width > 0
        else:
            with pytest.raises(expected) as raised:
                probe_image(data, max_pixels=MAX_PIXELS)
            assert type(raised.value) is expected
        with pytest.raises(expected) as raised:
            render_thumbnails(
                data,
                boxes=BOXES,
                fit=Fit.CONTAIN,
                format="jpeg",
                quality=None,
                strip_metadata=True,
                max_pixels=MAX_PIXELS,
            )
        assert type(raised.value) is expected
        assert str(raised.value), "errors carry a message"
        return

    probe = probe_image(data, max_pixels=MAX_PIXELS)
    output_format = "png" if probe.has_alpha else "jpeg"
    thumbnails = render_thumbnails(
        data,
        boxes=BOXES,
        fit=Fit.CONTAIN,
        format=output_format,
        quality=None,
        strip_metadata=True,
        max_pixels=MAX_PIXELS,
    )
    assert [thumbnail.box for thumbnail in thumbnails] == BOXES
    for thumbnail in thumbnails:
        assert thumbnail.format == output_format
        assert thumbnail.content_type == CONTENT_TYPES[output_format]
        # Contain: exactly the source's displayed size fitted into the box, never upscaled.
        expected_size = contain_size((probe.width, probe.height), thumbnail.box)
        assert (thumbnail.width, thumbnail.height) == expected_size
        assert thumbnail.width <= thumbnail.box.width and thumbnail.height <= thumbnail.box.height
        image = _check_thumbnail_bytes(thumbnail.body, output_format, width=thumbnail.width, height=thumbnail.height)
        assert image.mode in (("L", "LA", "RGB", "RGBA") if output_format == "png" else ("L", "RGB"))
        assert "exif" not in image.info and "icc_profile" not in image.info


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("name", RENDERABLE)
def test_corpus_file_covers_a_box_exactly_in_every_format(name: str, output_format: str) -> None:
    box = Box(48, 32)  # not square, so cover must crop
    (thumbnail,) = render_thumbnails(
        read(name),
        boxes=[box],
        fit=Fit.COVER,
        format=output_format,
        quality=None,
        strip_metadata=True,
        max_pixels=MAX_PIXELS,
    )
    assert (thumbnail.width, thumbnail.height) == (48, 32)
    _check_thumbnail_bytes(thumbnail.body, output_format, width=48, height=32)


@pytest.mark.parametrize("name", RENDERABLE)
def test_probe_reads_headers_only(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = record_decodes(monkeypatch)
    probe = probe_image(read(name), max_pixels=MAX_PIXELS)
    assert probe.width > 0 and probe.height > 0 and probe.frames >= 1
    if name.endswith(".ico"):
        # Pillow decodes the chosen ICO entry while opening; the sizes of all
        # entries were checked against the limit before that.
        assert len(decoded) == 1
    else:
        assert decoded == []
