"""Property tests of the size arithmetic and the header peeks, and fuzzing of the entry points."""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import ImageError
from core.imaging import Box, Fit, geometry, probe_image, render_thumbnails, sniff

CORPUS = Path(__file__).parent / "data" / "corpus"
sides = st.integers(min_value=1, max_value=20_000)
boxes = st.builds(Box, st.integers(min_value=1, max_value=2_000), st.integers(min_value=1, max_value=2_000))
sources = st.tuples(sides, sides)


@given(source=sources, box=boxes)
def test_contain_fits_inside_never_upscales_and_keeps_the_aspect_ratio(source: tuple[int, int], box: Box) -> None:
    width, height = geometry.contain_size(source, box)
    assert 1 <= width <= min(box.width, source[0])
    assert 1 <= height <= min(box.height, source[1])
    if source[0] <= box.width and source[1] <= box.height:
        assert (width, height) == source
    else:
        scale = min(box.width / source[0], box.height / source[1])
        # Each side is the exact scaled side, rounded (or raised to 1 pixel).
        assert abs(width - max(1.0, source[0] * scale)) <= 0.5 + 1e-9
        assert abs(height - max(1.0, source[1] * scale)) <= 0.5 + 1e-9
        # And at least one side touches the box.
        assert width == box.width or height == box.height


@given(source=sources, box=boxes)
def test_cover_crop_is_centred_inside_the_source_with_the_box_aspect(source: tuple[int, int], box: Box) -> None:
    left, top, right, bottom = geometry.cover_crop(source, box)
    assert 0 <= left <= right <= source[0] + 1e-6
    assert 0 <= top <= bottom <= source[1] + 1e-6
    assert math.isclose(left, source[0] - right, abs_tol=1e-6)
    assert math.isclose(top, source[1] - bottom, abs_tol=1e-6)
    assert math.isclose((right - left) * box.height, (bottom - top) * box.width, rel_tol=1e-9)
    # One dimension is used in full: the crop is as large as possible.
    assert math.isclose(right - left, source[0]) or math.isclose(bottom - top, source[1])
    assert geometry.output_size(source, box, Fit.COVER) == (box.width, box.height)


@given(source=sources, box_list=st.lists(boxes, min_size=1, max_size=4), fit=st.sampled_from(Fit))
def test_draft_request_is_twice_the_largest_need_in_stored_orientation(
    source: tuple[int, int], box_list: list[Box], fit: Fit
) -> None:
    upright = geometry.draft_request(source, box_list, fit, orientation=1, reducing_gap=2.0)
    for box in box_list:
        needed = geometry.output_size(source, box, fit)
        if fit is Fit.CONTAIN:
            # Twice the output, unless that exceeds the source itself (no reduction).
            assert upright[0] >= min(source[0], 2 * needed[0] - 1)
            assert upright[1] >= min(source[1], 2 * needed[1] - 1)
    assert upright[0] <= source[0] and upright[1] <= source[1]
    for orientation in (5, 6, 7, 8):
        rotated_source = (source[1], source[0])
        # The decoder sees the stored raster, whose sides are swapped.
        assert geometry.draft_request(source, box_list, fit, orientation=orientation, reducing_gap=2.0) == (
            upright[1],
            upright[0],
        )
        assert geometry.displayed_size(rotated_source, orientation) == source


@given(data=st.binary(max_size=512))
def test_header_peeks_never_raise(data: bytes) -> None:
    size = sniff.declared_size(data)
    assert size is None or (len(size) == 2 and all(isinstance(side, int) for side in size))
    sniff.looks_like_heif(data)
    sniff.unsupported_format_name(data)


@pytest.mark.parametrize(
    "name", sorted(path.name for path in CORPUS.glob("*.*") if path.suffix not in (".md", ".tsv", ".json"))
)
def test_header_peeks_survive_every_prefix_of_the_corpus(name: str) -> None:
    data = (CORPUS / name).read_bytes()[:2048]
    for cut in range(0, len(data), 7):
        sniff.declared_size(data[:cut])


MAGIC = [
    b"\xff\xd8\xff\xe0",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"\x00\x00\x00\x1cftypavif",
    b"\x00\x00\x00\x1cftypheic",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"\x00\x00\x01\x00\x01\x00",
]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=300))
def test_garbage_behind_real_magic_bytes_raises_only_classified_errors(magic: bytes, tail: bytes) -> None:
    data = magic + tail
    with contextlib.suppress(ImageError):
        probe_image(data, max_pixels=10_000_000)
    try:
        thumbnails = render_thumbnails(
            data,
            boxes=[Box(32, 32)],
            fit=Fit.COVER,
            format="png",
            quality=None,
            strip_metadata=True,
            max_pixels=10_000_000,
        )
    except ImageError:
        return
    assert thumbnails[0].width == 32  # garbage that decodes still gives a real thumbnail


@settings(max_examples=60, deadline=None)
@given(
    source=st.tuples(st.integers(1, 300), st.integers(1, 300)),
    box_list=st.lists(st.builds(Box, st.integers(1, 160), st.integers(1, 160)), min_size=1, max_size=5),
    fit=st.sampled_from(Fit),
)
def test_any_source_and_boxes_render_to_the_promised_sizes(
    source: tuple[int, int], box_list: list[Box], fit: Fit
) -> None:
    image = Image.linear_gradient("L").resize(source).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    thumbnails = render_thumbnails(
        buffer.getvalue(),
        boxes=box_list,
        fit=fit,
        format="png",
        quality=None,
        strip_metadata=True,
        max_pixels=1_000_000,
    )
    for box, thumbnail in zip(box_list, thumbnails, strict=True):
        assert thumbnail.box == box
        assert (thumbnail.width, thumbnail.height) == geometry.output_size(source, box, fit)
        with Image.open(io.BytesIO(thumbnail.body)) as reopened:
            assert reopened.size == (thumbnail.width, thumbnail.height)
