"""The two engines make equivalent thumbnails of every file of the corpus.

The libvips engine renders in libvips from the bytes to the encoded outputs
(orientation, sRGB, alpha, metadata and encoders included); the Pillow engine
is the complete fallback. For every corpus file the libvips engine renders,
both engines must give, in every output format, for contain and cover boxes:

* the same dimensions, format and mode (grey, colour, alpha);
* the same metadata policy: nothing personal when stripping; when keeping,
  EXIF (GPS included) with Orientation 1, an ICC profile on exactly the same
  outputs, never XMP or comments;
* the same picture: PSNR between the two outputs (their visible colour: alpha
  composited onto black and onto white) at least :data:`MIN_PSNR_DB`.

Every other corpus file is named and checked too: rendered by Pillow whatever
the engine (the same bytes), or refused by both with the same error. So the
whole corpus is covered. ``pytest -s`` prints the measured PSNRs.
"""

from __future__ import annotations

import io
import math
import statistics
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from core.errors import ImageError
from core.imaging import FORMATS, Box, Fit, Thumbnail, render_thumbnails, vips_engine
from core.imaging.engine import engine_for

CORPUS = Path(__file__).parent / "data" / "corpus"
MAX_PIXELS = 120_000_000
NOT_IMAGES = {"MANIFEST.tsv", "sources.json", "README.md", "SOURCES.md"}
#: The smallest PSNR between the two engines' outputs, per fit. The bounds are the previous libvips engine's
#: (decode and resize in libvips, the rest in Pillow), measured on this corpus: contain 33.3 dB (an RGBA WebP's
#: AVIF at 64 px), cover 21.5 dB (a 32x32 PNG stretched to 48x32: libvips crops whole source pixels, Pillow a
#: fractional region, which an upscale makes visible). The native path measures 33.4 and 21.5 dB.
MIN_PSNR_DB = {Fit.CONTAIN: 33.0, Fit.COVER: 21.0}
#: The median over every output, a check that the typical thumbnail is the same picture (measured 42 dB).
MIN_MEDIAN_PSNR_DB = 38.0
CASES = ((Fit.CONTAIN, (Box(128, 128), Box(64, 64))), (Fit.COVER, (Box(48, 32),)))
#: Corpus files the libvips engine leaves to Pillow: formats it does not decode for polythumb (GIF, TIFF, BMP,
#: ICO, AVIF, HEIC), animations, and PNGs cut short (their header cannot tell what follows the pixels).
PILLOW_ONLY_PREFIXES = ("gif-", "tiff-", "bmp-", "ico-", "avif-", "heic-", "webp-animated", "broken-truncated")
GPS_IFD = 0x8825
ORIENTATION = 0x0112

needs_vips = pytest.mark.skipif(
    not vips_engine.available(), reason="the libvips engine is optional: pip install 'polythumb[fast]'"
)
pytestmark = needs_vips


def corpus() -> list[str]:
    return sorted(path.name for path in CORPUS.iterdir() if path.name not in NOT_IMAGES)


def engine_of(name: str) -> str | type[ImageError]:
    """The engine THUMBS_ENGINE=vips renders ``name`` with, or the error both engines raise."""
    try:
        return engine_for((CORPUS / name).read_bytes(), boxes=[Box(128, 128)], fit=Fit.CONTAIN,
                          max_pixels=MAX_PIXELS, engine="vips")  # fmt: skip
    except ImageError as exc:
        return type(exc)


COMPARED = [name for name in corpus() if engine_of(name) == "vips" and not name.startswith("broken-")]


def render(name: str, *, engine: str, fmt: str, fit: Fit, boxes: tuple[Box, ...], strip: bool) -> list[Thumbnail]:
    return render_thumbnails((CORPUS / name).read_bytes(), boxes=list(boxes), fit=fit, format=fmt, quality=None,
                             strip_metadata=strip, max_pixels=MAX_PIXELS, engine=engine)  # fmt: skip


def opened(thumbnail: Thumbnail) -> Image.Image:
    image = Image.open(io.BytesIO(thumbnail.body))
    image.load()
    return image


def visible_psnr(first: Image.Image, second: Image.Image) -> float:
    """PSNR (dB) of what two images show: alpha composited onto black, and onto white; the worse of the two."""
    worst = 99.0
    for background in ((0, 0, 0, 255), (255, 255, 255, 255)):
        shown = []
        for image in (first, second):
            base = Image.new("RGBA", image.size, background)
            base.alpha_composite(image.convert("RGBA"))
            shown.append(base.convert("RGB"))
        rms = ImageStat.Stat(ImageChops.difference(*shown)).rms
        mse = sum(value * value for value in rms) / len(rms)
        worst = min(worst, 99.0 if mse == 0 else 10 * math.log10(255**2 / mse))
    return worst


def kind(image: Image.Image) -> tuple[str, bool]:
    """Grey or colour, and whether it has alpha (a mode class both engines must agree on)."""
    return ("grey" if image.mode in ("L", "LA") else "colour"), image.mode in ("LA", "RGBA")


def test_every_corpus_file_is_compared_or_named() -> None:
    for name in corpus():
        chosen = engine_of(name)
        if chosen == "vips":
            continue  # compared below (a cut-short source: both raise, see test_imaging_corpus)
        if chosen == "pillow":
            assert name.startswith(PILLOW_ONLY_PREFIXES), f"{name} is left to Pillow, unlisted here"
        else:
            assert isinstance(chosen, type) and issubclass(chosen, ImageError), name
    assert len(COMPARED) >= 30, COMPARED


def outcome(name: str, *, engine: str, fmt: str) -> list[bytes] | type[ImageError]:
    """The bodies ``engine`` renders of ``name`` (contain, two boxes, metadata kept), or the error it raises."""
    try:
        return [thumbnail.body for thumbnail in render(name, engine=engine, fmt=fmt, fit=Fit.CONTAIN,
                                                       boxes=CASES[0][1], strip=False)]  # fmt: skip
    except ImageError as exc:
        return type(exc)


NOT_COMPARED = [name for name in corpus() if name not in COMPARED]


@pytest.mark.parametrize("name", NOT_COMPARED)
def test_a_file_not_compared_gets_the_same_outcome_whatever_the_engine(name: str) -> None:
    """The rest of the corpus: left to Pillow (the very same bytes under THUMBS_ENGINE=vips), or refused alike."""
    for fmt in ("jpeg", "webp"):
        assert outcome(name, engine="vips", fmt=fmt) == outcome(name, engine="pillow", fmt=fmt), (name, fmt)


@pytest.fixture(scope="module")
def compared() -> dict[tuple[str, str], list[tuple[Thumbnail, Thumbnail, Fit]]]:
    """Every compared file in every format, contain and cover, stripped: (Pillow's, libvips') thumbnails."""
    pairs: dict[tuple[str, str], list[tuple[Thumbnail, Thumbnail, Fit]]] = {}
    for name in COMPARED:
        for fmt in FORMATS:
            for fit, boxes in CASES:
                pillow = render(name, engine="pillow", fmt=fmt, fit=fit, boxes=boxes, strip=True)
                vips = render(name, engine="vips", fmt=fmt, fit=fit, boxes=boxes, strip=True)
                pairs.setdefault((name, fmt), []).extend((a, b, fit) for a, b in zip(pillow, vips, strict=True))
    return pairs


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", COMPARED)
def test_both_engines_make_the_same_thumbnails(
    compared: dict[tuple[str, str], list[tuple[Thumbnail, Thumbnail, Fit]]], name: str, fmt: str
) -> None:
    for ours, theirs, fit in compared[(name, fmt)]:
        assert (ours.box, ours.format, ours.content_type) == (theirs.box, theirs.format, theirs.content_type)
        assert (ours.width, ours.height) == (theirs.width, theirs.height)
        first, second = opened(ours), opened(theirs)
        assert first.format == second.format and first.size == second.size == (ours.width, ours.height)
        assert kind(first) == kind(second), (first.mode, second.mode)
        for image in (first, second):  # stripped: nothing personal, whichever engine wrote it
            assert len(image.getexif()) == 0 and "icc_profile" not in image.info and "xmp" not in image.info
        psnr = visible_psnr(first, second)
        assert psnr >= MIN_PSNR_DB[fit], f"{name} {fmt} {fit} {ours.box}: {psnr:.1f} dB"


def test_the_typical_thumbnail_is_the_same_picture(
    compared: dict[tuple[str, str], list[tuple[Thumbnail, Thumbnail, Fit]]],
) -> None:
    measured = [visible_psnr(opened(a), opened(b)) for pairs in compared.values() for a, b, _ in pairs]
    median = statistics.median(measured)
    print(f"\nPSNR between the engines over {len(measured)} outputs: min {min(measured):.1f} dB, "
          f"median {median:.1f} dB")  # fmt: skip
    assert median >= MIN_MEDIAN_PSNR_DB


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", COMPARED)
def test_both_engines_keep_the_same_metadata(name: str, fmt: str) -> None:
    box = (Box(64, 64),)
    (ours,) = render(name, engine="pillow", fmt=fmt, fit=Fit.CONTAIN, boxes=box, strip=False)
    (theirs,) = render(name, engine="vips", fmt=fmt, fit=Fit.CONTAIN, boxes=box, strip=False)
    first, second = opened(ours), opened(theirs)
    kept = [image.getexif() for image in (first, second)]
    assert [len(exif) > 0 for exif in kept] == [len(kept[0]) > 0] * 2, "EXIF kept by one engine only"
    for exif in kept:
        assert exif.get(ORIENTATION, 1) == 1, "the pixels are upright"
    assert dict(kept[0].get_ifd(GPS_IFD)) == dict(kept[1].get_ifd(GPS_IFD))
    profiles = [image.info.get("icc_profile") for image in (first, second)]
    assert bool(profiles[0]) == bool(profiles[1]), "an ICC profile on one engine's output only"
    for image in (first, second):
        assert "xmp" not in image.info and "comment" not in image.info and "XML:com.adobe.xmp" not in image.info
