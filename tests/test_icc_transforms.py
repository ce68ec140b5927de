"""The libvips engine's ICC conversion keeps its LittleCMS transforms (core/imaging/icc_transforms.py).

libvips builds a transform in every ``icc_transform`` call (4-6 ms for a
matrix-shaper profile, ~50 ms for a print CMYK one); the engine now builds one
per profile and layout, keeps it, and converts with it. These tests check that
the transform is built once and libvips' own conversion is no longer called,
that the kept transform converts as libvips did (RGB, RGBA with its alpha,
CMYK), and that without Pillow's LittleCMS the engine still converts, through
libvips.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageChops

from core.imaging import Box, Fit, render_thumbnails, vips_engine
from tests.images import gradient

needs_vips = pytest.mark.skipif(
    not vips_engine.available(), reason="the libvips engine is optional: pip install 'polythumb[fast]'"
)
pytestmark = needs_vips


def _builtin_profile(name: str) -> bytes:
    """A profile libvips ships (``p3``: Display P3, matrix-shaper; ``cmyk``: a print CLUT profile)."""
    vips = vips_engine.runtime()
    return bytes(vips.Operation.call("profile_load", name))


def _jpeg(image: Image.Image, icc_profile: bytes) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, icc_profile=icc_profile)
    return buffer.getvalue()


def _render(data: bytes, *sizes: int) -> list[bytes]:
    thumbnails = render_thumbnails(data, boxes=[Box(size, size) for size in sizes], fit=Fit.CONTAIN, format="png",
                                   quality=None, strip_metadata=True, max_pixels=10**8, engine="vips")  # fmt: skip
    return [thumbnail.body for thumbnail in thumbnails]


@pytest.fixture
def icc_transform_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts libvips' ``icc_transform`` calls (each builds a LittleCMS transform)."""
    vips = vips_engine.runtime()
    calls: list[int] = []
    original = vips.Image.icc_transform

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(vips.Image, "icc_transform", counted)
    yield calls


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "CMYK"])
def test_a_profile_becomes_one_kept_transform_not_one_per_render(icc_transform_calls: list[int], mode: str) -> None:
    from core.imaging import icc_transforms

    icc_transforms.transform_to_srgb.cache_clear()
    profile = _builtin_profile("cmyk" if mode == "CMYK" else "p3")
    source = gradient(320, 240).convert(mode)
    if mode == "RGBA":
        buffer = io.BytesIO()
        source.putalpha(Image.linear_gradient("L").resize(source.size))
        source.save(buffer, "PNG", icc_profile=profile)
        data = buffer.getvalue()
    else:
        data = _jpeg(source, profile)
    first = _render(data, 200, 64)
    second = _render(data, 200, 64)
    assert first == second
    assert icc_transform_calls == [], "libvips built a LittleCMS transform for a render"
    info = icc_transforms.transform_to_srgb.cache_info()
    assert (info.misses, info.hits) == (1, 1), info  # built for the first render, reused by the second


@pytest.mark.parametrize(("mode", "profile_name"), [("RGB", "p3"), ("RGBA", "p3"), ("CMYK", "cmyk")])
def test_the_kept_transform_converts_as_libvips_does(mode: str, profile_name: str) -> None:
    """Both call LittleCMS with the perceptual intent to its sRGB: at most one level apart per sample, alpha kept."""
    from core.imaging import vips_colour

    vips = vips_engine.runtime()
    profile = _builtin_profile(profile_name)
    picture = gradient(96, 64).convert(mode)
    if mode == "RGBA":
        picture.putalpha(Image.linear_gradient("L").resize(picture.size))
    bands = len(mode)
    image = vips.Image.new_from_memory(picture.tobytes(), picture.width, picture.height, bands, "uchar")
    image = image.copy(interpretation="cmyk" if mode == "CMYK" else "srgb")
    kept = vips_colour.SrgbConverter(vips, profile, mode)(image)
    tagged = image.copy()
    tagged.set_type(vips.GValue.blob_type, "icc-profile-data", profile)
    expected = tagged.icc_transform("srgb", embedded=True, intent="perceptual", depth=8).cast("uchar")
    assert (kept.width, kept.height, kept.bands) == (expected.width, expected.height, expected.bands)
    assert kept.bands == (4 if mode == "RGBA" else 3)
    assert (kept - expected).abs().max() <= 1
    if mode == "RGBA":
        assert (kept.extract_band(3) == image.extract_band(3)).min() == 255  # alpha copied through untouched


def test_without_pillows_littlecms_libvips_converts(monkeypatch: pytest.MonkeyPatch,
                                                     icc_transform_calls: list[int]) -> None:  # fmt: skip
    from core.imaging import icc_transforms

    data = _jpeg(gradient(320, 240), _builtin_profile("p3"))
    icc_transforms.transform_to_srgb.cache_clear()
    kept = _render(data, 128)
    monkeypatch.setattr(icc_transforms, "_littlecms", lambda: None)
    icc_transforms.transform_to_srgb.cache_clear()
    try:
        through_libvips = _render(data, 128)
    finally:
        icc_transforms.transform_to_srgb.cache_clear()
    assert len(icc_transform_calls) == 1
    first, second = (Image.open(io.BytesIO(body)).convert("RGB") for body in (kept[0], through_libvips[0]))
    assert first.size == second.size
    assert max(high for _, high in ImageChops.difference(first, second).getextrema()) <= 1


def test_an_unusable_profile_gives_no_transform() -> None:
    from core.imaging import icc_transforms

    assert icc_transforms.available()
    assert icc_transforms.transform_to_srgb(b"not a profile" * 20, "RGB") is None
    assert icc_transforms.transform_to_srgb(_builtin_profile("p3"), "LAB") is None
