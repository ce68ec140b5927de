"""Properties of rendered thumbnails: orientation, colour, alpha, modes, metadata, fit, decoding cost."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat

from core.errors import ConfigError, ImageError, NotAnImage, UnsupportedImage
from core.imaging import CONTENT_TYPES, EXTENSIONS, FORMATS, Box, Fit, Thumbnail, probe_image, render_thumbnails
from core.imaging import decode as imaging_decode
from tests.images import record_decodes, record_resizes

ROOT = Path(__file__).parent.parent
CORPUS = Path(__file__).parent / "data" / "corpus"
MAX_PIXELS = 50_000_000
PILLOW_NAME = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}
GPS_IFD = 0x8825
ORIENTATION = 0x0112
DEFAULT_BOX = Box(128, 128)
EXIF_IFD = 0x8769
# Tags describing the source raster (a TIFF's strips, sample layout), not kept in thumbnails.
RASTER_LAYOUT_TAGS = (0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0115, 0x0116, 0x0117, 0x011C)
#: Tags that describe the file rather than the photo, which an encoder may rewrite for the thumbnail: its
#: resolution (libvips writes the thumbnail's own), the embedded EXIF thumbnail's pointer and length (the
#: thumbnail embeds none) and DNG raw-sensor tags (0xC612 up; libexif, which libvips writes EXIF with, drops
#: tags it does not know).
FILE_DESCRIPTION_TAGS = (0x011A, 0x011B, 0x0128, 0x0201, 0x0202)
DNG_TAGS_FROM = 0xC612


# --- helpers -------------------------------------------------------------------------------------


def read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def render(
    data: bytes,
    *boxes: Box,
    fit: Fit = Fit.CONTAIN,
    output_format: str = "png",
    quality: int | None = None,
    strip_metadata: bool = True,
    max_pixels: int = MAX_PIXELS,
    engine: str = "auto",
) -> list[Thumbnail]:
    return render_thumbnails(
        data,
        boxes=list(boxes) or [DEFAULT_BOX],
        fit=fit,
        format=output_format,
        quality=quality,
        strip_metadata=strip_metadata,
        max_pixels=max_pixels,
        engine=engine,
    )


def render_one(data: bytes, box: Box = DEFAULT_BOX, **options: Any) -> Image.Image:
    (thumbnail,) = render(data, box, **options)
    return reopen(thumbnail)


def reopen(thumbnail: Thumbnail) -> Image.Image:
    with Image.open(io.BytesIO(thumbnail.body)) as image:
        assert image.format == PILLOW_NAME[thumbnail.format]
        image.load()
        return image


def full_decode(name: str) -> Image.Image:
    with Image.open(CORPUS / name) as image:
        image.load()
        return image.copy()


def encode(image: Image.Image, pillow_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, pillow_format, **options)
    return buffer.getvalue()


def mean_abs_diff(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference per channel, 0-255."""
    assert first.size == second.size and first.mode == second.mode
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / len(first.getbands())


def band_range(image: Image.Image) -> tuple[float, float]:
    """Extrema of a single-band image."""
    low, high = image.getextrema()
    assert isinstance(low, int | float) and isinstance(high, int | float)
    return low, high


def mean_colour(image: Image.Image) -> list[float]:
    return ImageStat.Stat(image.convert("RGB")).mean


def quadrants(width: int, height: int) -> Image.Image:
    """Four flat colours, so any rotation or flip moves them somewhere recognisable."""
    image = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    image.paste((220, 30, 30), (0, 0, half_w, half_h))
    image.paste((30, 200, 40), (half_w, 0, width, half_h))
    image.paste((30, 40, 210), (0, half_h, half_w, height))
    image.paste((240, 230, 40), (half_w, half_h, width, height))
    return image


def jpeg_with_orientation(image: Image.Image, orientation: int, **options: Any) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return encode(image, "JPEG", quality=92, exif=exif.tobytes(), **options)


def srgb_reference(name: str, size: tuple[int, int]) -> Image.Image:
    """A careful reference: the full image converted with ImageCms, then resized."""
    image = full_decode(name)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
    converted = ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    assert converted is not None
    return converted.resize(size, Image.Resampling.LANCZOS)


def grey_icc_profile(gamma: float) -> bytes:
    """A minimal ICC v2 grey display profile with a pure-gamma tone curve."""

    def s15_16(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    d50 = s15_16(0.9642) + s15_16(1.0) + s15_16(0.8249)
    text = b"Gamma grey for tests\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + bytes(8) + bytes(3) + bytes(67)
    tags = [
        (b"desc", desc),
        (b"wtpt", b"XYZ \0\0\0\0" + d50),
        (b"kTRC", b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        body += bytes(-(offset + len(body)) % 4)  # tags start on 4-byte boundaries
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    body += bytes(-len(body) % 4)
    header = (
        struct.pack(">I", offset + len(body))
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrGRAYXYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + bytes(4)
        + d50
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


@pytest.fixture(scope="module")
def large_jpeg() -> bytes:
    """A 4000x3000 photo-like JPEG (smooth gradients), made once per module."""
    horizontal = Image.linear_gradient("L").rotate(90).resize((4000, 3000))
    vertical = Image.linear_gradient("L").resize((4000, 3000))
    image = Image.merge("RGB", (horizontal, vertical, ImageChops.invert(horizontal)))
    return encode(image, "JPEG", quality=85)


@pytest.fixture
def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, tuple[int, int]]]:
    """(format, size) of every real decode during the test."""
    return record_decodes(monkeypatch)


# --- the public API ------------------------------------------------------------------------------


def test_types_are_what_the_config_and_pipeline_import() -> None:
    assert FORMATS == ("jpeg", "png", "webp", "avif")
    assert CONTENT_TYPES == {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}
    assert EXTENSIONS == {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}
    assert str(Box(128, 96)) == "128x96"
    assert Box.parse("128x96") == Box(128, 96)
    assert sorted([Box(256, 256), Box(64, 64)]) == [Box(64, 64), Box(256, 256)]
    assert Fit("cover") is Fit.COVER and str(Fit.CONTAIN) == "contain"


@pytest.mark.parametrize("sides", [(0, 10), (10, -1), (True, 5), (1.5, 2)])
def test_box_refuses_non_positive_or_non_integer_sides(sides: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match="positive integers"):
        Box(*sides)


def test_importing_the_types_does_not_import_pillow() -> None:
    code = (
        "import sys, core.imaging.types, core.imaging; "
        "assert 'PIL' not in sys.modules, 'PIL imported'; "
        "core.imaging.render_thumbnails; "
        "assert 'PIL' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_every_output_format_round_trips_with_its_content_type() -> None:
    data = encode(quadrants(300, 200), "PNG")
    for output_format in FORMATS:
        (thumbnail,) = render(data, Box(90, 90), output_format=output_format)
        assert thumbnail.format == output_format
        assert thumbnail.content_type == CONTENT_TYPES[output_format]
        assert (thumbnail.width, thumbnail.height) == (90, 60)
        assert reopen(thumbnail).size == (90, 60)


def test_results_follow_the_order_of_boxes_including_repeats() -> None:
    boxes = [Box(32, 32), Box(200, 200), Box(32, 32), Box(100, 50)]
    thumbnails = render(encode(quadrants(400, 300), "PNG"), *boxes)
    assert [thumbnail.box for thumbnail in thumbnails] == boxes
    assert [(thumbnail.width, thumbnail.height) for thumbnail in thumbnails] == [
        (32, 24),
        (200, 150),
        (32, 24),
        (67, 50),
    ]
    assert thumbnails[0].body == thumbnails[2].body


def test_quality_none_means_the_per_format_default_and_quality_matters() -> None:
    data = read("webp-lossy.webp")
    for output_format, default in (("jpeg", 85), ("webp", 80), ("avif", 60)):
        (by_default,) = render(data, Box(200, 200), output_format=output_format)
        (explicit,) = render(data, Box(200, 200), output_format=output_format, quality=default)
        assert by_default.body == explicit.body, output_format
        (low,) = render(data, Box(200, 200), output_format=output_format, quality=10)
        (high,) = render(data, Box(200, 200), output_format=output_format, quality=95)
        assert len(low.body) < len(high.body), output_format
    # PNG is lossless: quality is ignored.
    (png_low,) = render(data, Box(200, 200), output_format="png", quality=10)
    (png_high,) = render(data, Box(200, 200), output_format="png", quality=95)
    assert png_low.body == png_high.body


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "gif"}, "format must be one of"),
        ({"quality": 0}, "quality"),
        ({"quality": 101}, "quality"),
        ({"quality": True}, "quality"),
        ({"boxes": []}, "at least one"),
        ({"boxes": [(10, 10)]}, "Box values"),
        ({"boxes": [Box(8000, 8000)], "fit": Fit.COVER}, "larger than max_pixels"),
        ({"fit": "stretch"}, "fit must be one of"),
        ({"max_pixels": 0}, "max_pixels"),
    ],
)
def test_invalid_arguments_are_config_errors(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "boxes": [Box(64, 64)],
        "fit": Fit.CONTAIN,
        "format": "png",
        "quality": None,
        "strip_metadata": True,
        "max_pixels": MAX_PIXELS,
    } | options
    with pytest.raises(ConfigError, match=message):
        render_thumbnails(read("png-rgba.png"), **arguments)


# --- EXIF orientation ----------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(2, 9))
def test_orientation_pixels_match_exif_transpose_of_a_full_decode(orientation: int) -> None:
    name = f"exif-orientation-{orientation}.jpg"
    output = render_one(read(name), output_format="png")
    upright = ImageOps.exif_transpose(full_decode(name))
    reference = upright.resize(output.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(output, reference) < 3
    # The check has teeth: the stored (unrotated) pixels are far from the output.
    stored = full_decode(name).resize(output.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(output, stored) > 20


def test_orientation_6_nonsquare_gives_the_displayed_dimensions() -> None:
    data = read("exif-orientation-6-nonsquare.jpg")
    probe = probe_image(data, max_pixels=MAX_PIXELS)
    assert (probe.width, probe.height) == (231, 308)  # stored 308x231
    output = render_one(data, output_format="png")
    assert output.size == (96, 128)  # taller than wide
    reference = ImageOps.exif_transpose(full_decode("exif-orientation-6-nonsquare.jpg"))
    assert mean_abs_diff(output, reference.resize(output.size, Image.Resampling.LANCZOS)) < 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_after_a_reduced_decode_of_a_large_jpeg(orientation: int) -> None:
    source = quadrants(1600, 1000)
    data = jpeg_with_orientation(source, orientation)
    output = render_one(data, Box(200, 200), output_format="png")
    swapped = orientation in (5, 6, 7, 8)
    assert output.size == ((125, 200) if swapped else (200, 125))
    with Image.open(io.BytesIO(data)) as image:
        reference = ImageOps.exif_transpose(image).resize(output.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(output, reference) < 4


@pytest.mark.parametrize("orientation", [2, 3, 5, 6, 8])
@pytest.mark.parametrize("pillow_format", ["PNG", "WEBP", "TIFF", "AVIF"])
def test_orientation_is_applied_once_in_every_format_that_carries_exif(pillow_format: str, orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    options = {"lossless": True} if pillow_format == "WEBP" else {}
    data = encode(quadrants(160, 100), pillow_format, exif=exif.tobytes(), **options)
    displayed = (100, 160) if orientation >= 5 else (160, 100)
    probe = probe_image(data, max_pixels=MAX_PIXELS)
    assert (probe.width, probe.height) == displayed
    output = render_one(data, Box(80, 80), output_format="png")
    assert output.size == (displayed[0] // 2, displayed[1] // 2)
    with Image.open(io.BytesIO(data)) as image:
        reference = ImageOps.exif_transpose(image).convert("RGB").resize(output.size, Image.Resampling.LANCZOS)
    # Pillow's TIFF plugin rotates while loading: rotating again would fail here.
    assert mean_abs_diff(output, reference) < 4


@pytest.mark.parametrize("name", ["exif-corrupt-bad-tiff-header.jpg", "exif-corrupt-dpi-type.jpg"])
@pytest.mark.parametrize("strip_metadata", [True, False])
def test_corrupt_exif_renders_as_orientation_1(name: str, strip_metadata: bool) -> None:
    output = render_one(read(name), output_format="jpeg", strip_metadata=strip_metadata)
    reference = full_decode(name).convert("RGB").resize(output.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(output.convert("RGB"), reference) < 4


def test_corrupt_exif_with_a_truncated_ifd_renders() -> None:
    name = "exif-corrupt-truncated-ifd.jpg"
    output = render_one(read(name), output_format="jpeg", strip_metadata=False)
    # The reference is decoded at the same DCT scale (1/2 of this 500x500 scan): compared with a full
    # decode, the scaled decode of its fine detail alone differs by ~5 levels, wherever its size ratio
    # lets it be reduced (4.0 and up before 1.9 became the reduction margin, 3.8 and up since).
    with Image.open(CORPUS / name) as source:
        source.draft(source.mode, (250, 250))
        reference = source.convert("L").resize(output.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(output, reference) < 4


# --- JPEG reduced decode, one decode for many boxes -----------------------------------------------


def test_draft_decodes_a_large_jpeg_at_a_reduced_size(
    large_jpeg: bytes, decoded_sizes: list[tuple[str | None, tuple[int, int]]]
) -> None:
    thumbnails = render(large_jpeg, Box(256, 256), Box(64, 64), output_format="jpeg")
    assert [(t.width, t.height) for t in thumbnails] == [(256, 192), (64, 48)]
    # The largest box needs 256x192, 1.9 times that is 487x365: DCT scaling 1/8 (500x375) is the
    # largest reduction that still delivers it. A full decode would be 4000x3000.
    assert decoded_sizes == [("JPEG", (500, 375))]
    with Image.open(io.BytesIO(large_jpeg)) as image:
        image.load()
    assert decoded_sizes[-1] == ("JPEG", (4000, 3000))  # the recorder sees full decodes too


def test_draft_size_is_computed_in_stored_orientation(
    decoded_sizes: list[tuple[str | None, tuple[int, int]]],
) -> None:
    data = jpeg_with_orientation(quadrants(4000, 3000), 6)  # displayed 3000x4000
    (thumbnail,) = render(data, Box(150, 200), output_format="jpeg")
    assert (thumbnail.width, thumbnail.height) == (150, 200)
    # Needed: 2 x 150x200 displayed = 400x300 stored, so 1/8 scaling (500x375).
    # Forgetting the swap would ask for 300x400 stored and only reach 1/4.
    assert decoded_sizes == [("JPEG", (500, 375))]


def test_many_boxes_come_from_one_decode_each_from_a_larger_result(
    large_jpeg: bytes, decoded_sizes: list[tuple[str | None, tuple[int, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    original_resize = Image.Image.resize
    resized_from = record_resizes(monkeypatch)
    boxes = [Box(256, 256), Box(512, 512), Box(64, 64), Box(128, 128)]
    # The Pillow engine's decode and resizes are recorded (auto renders this 0.75 Mpx decode with libvips).
    thumbnails = render(large_jpeg, *boxes, output_format="jpeg", engine="pillow")
    assert [(t.width, t.height) for t in thumbnails] == [(256, 192), (512, 384), (64, 48), (128, 96)]
    # One decode, sized for the largest box: 1.9 x 512x384 fits in 1/4 scale.
    assert decoded_sizes == [("JPEG", (1000, 750))]
    # Largest first; each smaller box from the previous result (at least twice its size).
    assert resized_from == [(1000, 750), (512, 384), (256, 192), (128, 96)]
    # Deriving from a larger thumbnail looks like resizing the decoded image directly.
    monkeypatch.setattr(Image.Image, "resize", original_resize)
    (alone,) = render(large_jpeg, Box(64, 64), output_format="jpeg", quality=95)
    (derived,) = [t for t in render(large_jpeg, *boxes, output_format="jpeg", quality=95) if t.box == Box(64, 64)]
    assert mean_abs_diff(reopen(alone), reopen(derived)) < 2


def test_cover_boxes_reuse_a_larger_cover_of_the_same_region(
    large_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    resized_from = record_resizes(monkeypatch)
    thumbnails = render(large_jpeg, Box(64, 64), Box(400, 400), Box(100, 300), fit=Fit.COVER, engine="pillow")
    assert [(t.width, t.height) for t in thumbnails] == [(64, 64), (400, 400), (100, 300)]
    # 400x400 from the decode; 100x300 shows a region outside the 400x400 crop, so
    # from the decode too; 64x64 is the same centred square as 400x400.
    assert resized_from == [(2000, 1500), (2000, 1500), (400, 400)]


# --- fit -----------------------------------------------------------------------------------------


def test_contain_never_upscales() -> None:
    data = read("png-palette-trns.png")  # 64x64
    (thumbnail,) = render(data, Box(256, 256))
    assert (thumbnail.width, thumbnail.height) == (64, 64)


def test_contain_fits_inside_keeping_the_aspect_ratio() -> None:
    thumbnails = render(encode(quadrants(1000, 250), "PNG"), Box(200, 200), Box(40, 100), Box(10000, 1))
    assert [(t.width, t.height) for t in thumbnails] == [(200, 50), (40, 10), (4, 1)]


def test_cover_gives_exactly_the_box_cropping_around_the_centre() -> None:
    source = Image.new("RGB", (300, 100), (255, 0, 0))
    source.paste((0, 255, 0), (100, 0, 200, 100))  # green middle third
    source.paste((0, 0, 255), (200, 0, 300, 100))
    output = render_one(encode(source, "PNG"), Box(50, 50), fit=Fit.COVER)
    assert output.size == (50, 50)
    red, green, blue = mean_colour(output)
    assert green > 250 and red < 5 and blue < 5


def test_cover_upscales_small_sources_to_fill_the_box() -> None:
    (thumbnail,) = render(read("jpeg-gps-exif.jpg"), Box(120, 40), fit=Fit.COVER, output_format="jpeg")
    assert (thumbnail.width, thumbnail.height) == (120, 40)  # from an 8x8 source
    assert reopen(thumbnail).size == (120, 40)


# --- colour --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jpeg-cmyk.jpg", "jpeg-cmyk-ycck-adobe.jpg", "tiff-cmyk.tif"])
def test_cmyk_and_ycck_become_rgb_close_to_a_careful_reference(name: str) -> None:
    output = render_one(read(name), output_format="png")
    assert output.mode == "RGB"
    source = full_decode(name)
    assert source.mode == "CMYK"
    reference = source.convert("RGB").resize(output.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(output, reference) < 2


@pytest.mark.parametrize("name", ["jpeg-icc-adobe-rgb.jpg", "jpeg-icc-xyb-jpegli.jpg", "jpeg-icc-big-multisegment.jpg"])
def test_icc_profiles_are_converted_to_srgb(name: str) -> None:
    output = render_one(read(name), output_format="png")
    assert "icc_profile" not in output.info  # stripped: the pixels are sRGB now
    reference = srgb_reference(name, output.size)
    naive = full_decode(name).resize(output.size, Image.Resampling.LANCZOS)
    ours = [abs(a - b) for a, b in zip(mean_colour(output), mean_colour(reference), strict=True)]
    skipped = [abs(a - b) for a, b in zip(mean_colour(naive), mean_colour(reference), strict=True)]
    assert max(ours) < 1.0, ours
    assert max(skipped) > 2.5, skipped  # what ignoring the profile costs on this file
    assert mean_abs_diff(output, reference) < 2


def test_kept_metadata_embeds_srgb_after_conversion() -> None:
    output = render_one(read("jpeg-icc-adobe-rgb.jpg"), output_format="jpeg", strip_metadata=False)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(output.info["icc_profile"]))
    assert "srgb" in ImageCms.getProfileDescription(profile).lower()


def test_an_srgb_source_profile_is_not_converted() -> None:
    name = "exif-orientation-6-nonsquare.jpg"  # carries an sRGB profile
    output = render_one(read(name), output_format="png")
    reference = ImageOps.exif_transpose(full_decode(name)).resize(output.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(output, reference) < 1.5


def test_a_profile_that_does_not_parse_is_ignored() -> None:
    source = quadrants(200, 100)
    plain = render_one(encode(source, "PNG"))
    broken = render_one(encode(source, "PNG", icc_profile=b"definitely not an ICC profile"))
    assert mean_abs_diff(plain, broken) == 0


def test_a_profile_for_another_colour_space_is_ignored() -> None:
    rgb_profile = full_decode("jpeg-icc-adobe-rgb.jpg").info["icc_profile"]
    grey = Image.new("L", (64, 64), 128)
    output = render_one(encode(grey, "PNG", icc_profile=rgb_profile))
    assert output.mode == "L" and mean_colour(output)[0] == 128


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_grey_profiles_are_converted_to_srgb_greys(mode: str) -> None:
    grey = Image.new(mode, (64, 64), 128 if mode == "L" else (128, 200))
    data = encode(grey, "PNG", icc_profile=grey_icc_profile(gamma=1.0))
    output = render_one(data)
    assert output.mode == mode  # grey stays one band (plus alpha)
    # Linear 128/255 is about 188 in sRGB; ignoring the profile would leave 128.
    assert 184 <= ImageStat.Stat(output.getchannel("L")).mean[0] <= 192
    if mode == "LA":
        assert ImageStat.Stat(output.getchannel("A")).mean[0] == 200


# --- alpha -----------------------------------------------------------------------------------------

ALPHA_SOURCES = [
    "png-rgba.png",
    "png-la.png",
    "png-palette-trns.png",
    "png-interlaced-adam7-rgba.png",
    "gif-transparency.gif",
    "webp-lossy-alpha.webp",
    "avif-alpha.avif",
    "ico-256-png.ico",
    "bmp-rgba32.bmp",
    "png-16bit-gray-trns.png",
]


@pytest.mark.parametrize("output_format", ["png", "webp", "avif"])
@pytest.mark.parametrize("name", ALPHA_SOURCES)
def test_alpha_is_kept_for_formats_that_hold_it(name: str, output_format: str) -> None:
    assert probe_image(read(name), max_pixels=MAX_PIXELS).has_alpha
    output = render_one(read(name), output_format=output_format)
    assert output.mode in ("LA", "RGBA")
    low, high = band_range(output.getchannel("A"))
    assert low < 255 and high > 0


@pytest.mark.parametrize("name", ALPHA_SOURCES)
def test_alpha_is_flattened_onto_white_for_jpeg(name: str) -> None:
    output = render_one(read(name), output_format="jpeg")
    assert output.mode in ("L", "RGB")
    as_png = render_one(read(name), output_format="png").convert("RGBA")
    transparent = as_png.getchannel("A").point(lambda alpha: 255 if alpha == 0 else 0)
    assert transparent.getbbox() is not None, "the source has fully transparent pixels"
    # Where the PNG thumbnail is fully transparent the JPEG is (near) white.
    white_where_transparent = ImageStat.Stat(output.convert("L"), mask=transparent).mean[0]
    assert white_where_transparent > 235


def test_resizing_uses_premultiplied_alpha_so_edges_keep_their_colour() -> None:
    source = Image.new("RGBA", (400, 400), (0, 0, 0, 0))  # transparent black
    source.paste((255, 0, 0, 255), (0, 0, 201, 400))  # opaque red, edge off the sampling grid
    output = render_one(encode(source, "PNG"), Box(37, 37)).convert("RGBA")
    edge = [output.getpixel((x, y)) for x in range(37) for y in range(37)]
    blended = [pixel for pixel in edge if isinstance(pixel, tuple) and 0 < pixel[3] < 255]
    assert blended, "the edge column is partly transparent"
    # Without premultiplication the transparent black would bleed in (dark red fringe).
    assert all(pixel[0] > 240 for pixel in blended), blended


# --- modes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["png-16bit-gray.png", "tiff-16bit-gray.tif", "tiff-16bit-gray-bigendian-satellite.tiff"]
)
def test_sixteen_bit_grey_is_scaled_not_clipped(name: str) -> None:
    output = render_one(read(name), output_format="png")
    assert output.mode == "L"
    samples = full_decode(name).convert("I").point(lambda value: value / 256).convert("L")
    reference = samples.resize(output.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(output, reference) < 1.5
    assert ImageStat.Stat(output).mean[0] < 200  # clipping would make these near-white


def test_png_16bit_grey_keeps_its_gradient() -> None:
    output = render_one(read("png-16bit-gray.png"), output_format="jpeg")
    mean = ImageStat.Stat(output).mean[0]
    low, high = band_range(output)
    assert 40 < mean < 215 and low < 30 and high > 225, (mean, low, high)


def test_sixteen_bit_rgb_renders_like_its_8_bit_reduction() -> None:
    for name in ("png-16bit-rgb.png", "tiff-16bit-rgb.tiff"):
        output = render_one(read(name), output_format="png")
        reference = full_decode(name).convert("RGB").resize(output.size, Image.Resampling.LANCZOS)
        assert output.mode == "RGB" and mean_abs_diff(output, reference) < 1.5, name


def test_bilevel_becomes_grey_with_real_averaging() -> None:
    output = render_one(read("tiff-multipage-g4-fax.tiff"), output_format="png")
    assert output.mode == "L"
    values = set(output.get_flattened_data())
    assert len(values) > 8, "LANCZOS on L gives greys, not just black and white"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 127, 255]),  # normalised floats
        ([0.0, 100.0, 255.0], [0, 100, 255]),  # 0-255 floats
        ([-1000.0, 0.0, 1000.0], [0, 127, 255]),  # anything else is stretched
    ],
)
def test_float_tiff_maps_to_grey(values: list[float], expected: list[int]) -> None:
    source = Image.new("F", (3, 1))
    source.putdata(values)
    output = render_one(encode(source, "TIFF"), output_format="png")
    assert output.mode == "L"
    assert list(output.get_flattened_data()) == pytest.approx(expected, abs=1)


def test_first_frame_of_animations_and_first_page_of_tiffs() -> None:
    for name, frames in (("gif-animated.gif", 42), ("webp-animated.webp", 42), ("tiff-multipage.tiff", 3)):
        probe = probe_image(read(name), max_pixels=MAX_PIXELS)
        assert probe.frames == frames
        output = render_one(read(name), Box(1000, 1000), output_format="png")
        with Image.open(CORPUS / name) as image:
            image.seek(0)
            first = image.convert(output.mode)
        assert output.size == first.size
        assert mean_abs_diff(output, first) == 0, name


def test_ico_renders_its_largest_entry() -> None:
    probe = probe_image(read("ico-multisize.ico"), max_pixels=MAX_PIXELS)
    assert (probe.width, probe.height) == (48, 48)  # entries are 16, 32 and 48


# --- metadata --------------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("name", ["jpeg-gps-exif.jpg", "jpeg-gps-exif-iphone.jpg"])
def test_stripping_removes_exif_gps_and_everything_else(name: str, output_format: str) -> None:
    with Image.open(CORPUS / name) as source:
        assert source.getexif().get_ifd(GPS_IFD), "the source has GPS tags"
    output = render_one(read(name), output_format=output_format, strip_metadata=True)
    exif = output.getexif()
    assert GPS_IFD not in exif and not exif.get_ifd(GPS_IFD)
    assert len(exif) == 0
    for key in ("exif", "xmp", "icc_profile", "comment", "XML:com.adobe.xmp"):
        assert key not in output.info, key


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("name", ["jpeg-gps-exif.jpg", "jpeg-gps-exif-iphone.jpg"])
def test_keeping_metadata_keeps_exif_with_orientation_reset(name: str, output_format: str) -> None:
    with Image.open(CORPUS / name) as source:
        source_exif = source.getexif()
        source_gps = dict(source_exif.get_ifd(GPS_IFD))
    output = render_one(read(name), output_format=output_format, strip_metadata=False)
    exif = output.getexif()
    assert dict(exif.get_ifd(GPS_IFD)) == source_gps
    assert exif.get(ORIENTATION, 1) == 1
    facts = {tag: value for tag, value in source_exif.items() if tag < DNG_TAGS_FROM
             and tag not in (ORIENTATION, GPS_IFD, EXIF_IFD, *RASTER_LAYOUT_TAGS, *FILE_DESCRIPTION_TAGS)}  # fmt: skip
    assert facts, "the source has facts to keep"
    for tag, value in facts.items():
        assert exif.get(tag) == value, hex(tag)


def test_kept_exif_says_orientation_1_for_rotated_sources() -> None:
    output = render_one(read("exif-orientation-6-nonsquare.jpg"), output_format="jpeg", strip_metadata=False)
    assert output.size == (96, 128)  # rotated once, by us
    assert output.getexif()[ORIENTATION] == 1  # so viewers do not rotate again


def test_kept_exif_of_a_tiff_leaves_its_raster_layout_behind() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "Maker"  # Make
    data = encode(quadrants(160, 100), "TIFF", exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as source:
        assert 0x0111 in source.getexif()  # the TIFF's StripOffsets show up as "EXIF"
    output = render_one(data, Box(80, 80), output_format="jpeg", strip_metadata=False)
    assert output.size == (50, 80)
    kept = output.getexif()
    assert kept.get(0x010F) == "Maker" and kept.get(ORIENTATION, 1) == 1
    assert not {0x0100, 0x0101, 0x0111, 0x0117} & set(kept)


@pytest.mark.parametrize("name", ["jpeg-grayscale.jpg", "jpeg-cmyk.jpg", "jpeg-icc-adobe-rgb.jpg"])
def test_comments_and_xmp_are_never_copied(name: str) -> None:
    with Image.open(CORPUS / name) as source:
        assert {"comment", "xmp"} & set(source.info)
    for strip_metadata in (True, False):
        output = render_one(read(name), output_format="jpeg", strip_metadata=strip_metadata)
        assert "comment" not in output.info and "xmp" not in output.info


# --- classified errors -----------------------------------------------------------------------------


def test_heic_without_pillow_heif_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # makes `import pillow_heif` fail
    imaging_decode.heif_opener_available.cache_clear()
    try:
        with pytest.raises(UnsupportedImage, match=r"polythumb\[heif\]"):
            render(read("heic-hevc.heic"))
        with pytest.raises(UnsupportedImage, match=r"polythumb\[heif\]"):
            probe_image(read("heic-hevc.heic"), max_pixels=MAX_PIXELS)
    finally:
        imaging_decode.heif_opener_available.cache_clear()


def test_heif_sniffing_leaves_avif_to_pillow() -> None:
    from core.imaging.sniff import looks_like_heif

    assert looks_like_heif(read("heic-hevc.heic"))
    assert not looks_like_heif(read("avif-basic.avif"))  # lists mif1 too, but is AVIF
    assert not looks_like_heif(read("png-rgba.png"))


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        (b"8BPS\x00\x01" + bytes(40), "PSD"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    ],
)
def test_known_but_unsupported_formats_are_unsupported_not_garbage(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedImage, match=name):
        render(data)


def test_formats_outside_the_allow_list_are_not_parsed() -> None:
    jpeg2000 = encode(quadrants(64, 64), "JPEG2000")
    with pytest.raises(UnsupportedImage, match="JPEG 2000"):
        render(jpeg2000)
    # Pillow reads PPM, but polythumb does not hand it untrusted bytes.
    with pytest.raises(NotAnImage):
        render(encode(quadrants(64, 64), "PPM"))


def _mutations(data: bytes) -> Iterator[bytes]:
    """Deterministic damage: cuts at many offsets and byte flips across the file."""
    step = max(1, len(data) // 23)
    for cut in range(0, len(data), step):
        yield data[:cut]
    for position in range(0, len(data), step):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        yield bytes(damaged)


DAMAGEABLE = [
    "jpeg-progressive.jpg",
    "png-palette-trns.png",
    "gif-transparency.gif",
    "webp-lossy-alpha.webp",
    "tiff-16bit-rgb.tiff",
    "ico-multisize.ico",
    "bmp-pal8-rle.bmp",
    "avif-alpha.avif",
]


@pytest.mark.parametrize("name", DAMAGEABLE)
def test_damaged_files_raise_only_classified_errors(name: str) -> None:
    outcomes: set[str] = set()
    for damaged in _mutations(read(name)):
        for call in _entry_points(damaged):
            try:
                call()
                outcomes.add("ok")
            except ImageError as exc:
                outcomes.add(type(exc).__name__)
    assert "TruncatedImage" in outcomes or "NotAnImage" in outcomes


def _entry_points(data: bytes) -> Sequence[Callable[[], object]]:
    return (
        lambda: probe_image(data, max_pixels=MAX_PIXELS),
        lambda: render(data, Box(40, 40), Box(20, 20), output_format="jpeg"),
    )
