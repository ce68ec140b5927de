"""Where a smart crop centres: libvips' ``attention`` measure, in Pillow and in libvips.

Both engines compute the focus point on a small analysis image (longest edge
:data:`ANALYSIS_EDGE`), with the measure libvips' ``smartcrop`` uses for
``interesting=attention`` (``libvips/conversion/smartcrop.c``):

1. convert to CIE Lab;
2. score each pixel: Sobel edge strength on L, plus 255 where a and b are in
   the skin-tone range (a 3..22, b 4..31) and L >= 15, plus 255 where chroma
   is above 60 (saturated colour);
3. shrink the score to 32x32 and Gaussian-blur it with a sigma proportional to
   the crop's size (the area the score should consider);
4. the maximum is the focus: every box's crop is centred on it, as far as the edges allow.

The Pillow engine runs it with Pillow's own filters (sub-second pure Python on
a 32x32 grid; no numpy); the libvips engine asks libvips' ``smartcrop`` for its
``attention_x`` / ``attention_y``. The two agree closely (their Lab conversions
differ slightly: lcms with D50, libvips with D65); ``tests/test_smart_crop.py``
measures the overlap of their crop windows.

Faces: no detector is bundled. The one small, registry-installable detector
that both engines could share is OpenCV's Haar cascade, which comes only with
``opencv-python-headless`` (a ~50 MB wheel, plus numpy): more than Pillow and
the Lambda package together, and slow to import at cold start. The skin-tone
term above already pulls crops towards faces.
"""

from __future__ import annotations

import array
import math
from typing import Any

from PIL import Image, ImageChops, ImageCms, ImageFilter, ImageMath

from core.imaging import geometry
from core.imaging.types import Box

#: The analysis image's longest edge: enough for a 32x32 score grid with edges that mean something.
ANALYSIS_EDGE = 256
#: The crop window the score is blurred for (libvips: the crop asked for). A square of the short side
#: for every box, so one focus point serves every size and does not depend on which sizes a render
#: happens to redo (a re-render of one stale size crops exactly as the first render did).
REFERENCE_BOX = Box(1, 1)
#: The score grid (libvips shrinks the score to 32x32).
GRID = 32
_MIN_AMPLITUDE = 0.2
_SKIN_A = (3, 22)
_SKIN_B = (4, 31)
_SKIN_MIN_L = 15.0
_SATURATION_CHROMA = 60.0
#: Sobel responses reach 4 x 255; the 8-bit kernel output is divided by this, then scaled back.
_SOBEL_SCALE = 8

_SRGB_TO_LAB: list[Any] = []  # built on first use (lcms profiles are cheap but not free)


def analysis_size(size: geometry.Size) -> geometry.Size:
    """The analysis image's size for a source of ``size``."""
    width, height = size
    scale = min(1.0, ANALYSIS_EDGE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def crop_size(size: geometry.Size, box: Box) -> geometry.Size:
    """The crop window of ``box`` in an image of ``size`` (the cover crop's size, whole pixels)."""
    left, top, right, bottom = geometry.cover_crop(size, box)
    return max(1, min(size[0], round(right - left))), max(1, min(size[1], round(bottom - top)))


def focus_with_pillow(image: Image.Image) -> tuple[float, float]:
    """The focus point of ``image``, as fractions of its width and height."""
    size = analysis_size(image.size)
    small = image if image.size == size else image.resize(size, Image.Resampling.BOX)
    small = small.convert("RGB")
    lab = _to_lab(small)
    light, a_channel, b_channel = lab.split()
    score = _score(light, a_channel, b_channel)
    grid = score.resize((GRID, GRID), Image.Resampling.BOX)
    window = crop_size(size, REFERENCE_BOX)
    x, y = _blurred_max(list(array.array("f", grid.tobytes())), sigma=_sigma(size, window))
    # libvips centres on (shrink * x_pos): the grid cell's top-left corner, in image pixels.
    return x / GRID, y / GRID


def focus_with_vips(image: Any) -> tuple[float, float]:
    """The same measure by libvips itself (``image``: a pyvips image in the plan's orientation)."""
    width, height = analysis_size((image.width, image.height))
    small = (
        image
        if (image.width, image.height) == (width, height)
        else image.resize(width / image.width, vscale=height / image.height, kernel="linear")
    )
    if small.bands > 3:
        small = small.extract_band(0, n=3)
    elif small.bands < 3:
        small = small.extract_band(0).bandjoin([small.extract_band(0), small.extract_band(0)])
    small = small.copy(interpretation="srgb")
    crop_width, crop_height = crop_size((width, height), REFERENCE_BOX)
    _, found = small.smartcrop(crop_width, crop_height, interesting="attention", attention_x=True, attention_y=True)
    return found["attention_x"] / width, found["attention_y"] / height


def _to_lab(image: Image.Image) -> Image.Image:
    if not _SRGB_TO_LAB:
        _SRGB_TO_LAB.append(
            ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
        )
    return ImageCms.applyTransform(image, _SRGB_TO_LAB[0])  # type: ignore[return-value]


def _score(light: Image.Image, a_channel: Image.Image, b_channel: Image.Image) -> Image.Image:
    """Per-pixel attention score (mode F), in libvips' units: L on 0..100, flags worth 255."""
    horizontal = ImageFilter.Kernel((3, 3), (-1, 0, 1, -2, 0, 2, -1, 0, 1), scale=_SOBEL_SCALE, offset=128)
    vertical = ImageFilter.Kernel((3, 3), (-1, -2, -1, 0, 0, 0, 1, 2, 1), scale=_SOBEL_SCALE, offset=128)
    magnitude = [abs(v - 128) for v in range(256)]
    edges_x = _inner(light.filter(horizontal)).point(magnitude)
    edges_y = _inner(light.filter(vertical)).point(magnitude)
    # Pillow's Lab stores L as 0..255 and a, b offset by 128.
    skin = ImageChops.multiply(
        ImageChops.multiply(
            a_channel.point([255 if _SKIN_A[0] <= v - 128 <= _SKIN_A[1] else 0 for v in range(256)]),
            b_channel.point([255 if _SKIN_B[0] <= v - 128 <= _SKIN_B[1] else 0 for v in range(256)]),
        ),
        light.point([255 if v * 100 / 255 >= _SKIN_MIN_L else 0 for v in range(256)]),
    )
    limit = _SATURATION_CHROMA**2
    return ImageMath.lambda_eval(  # type: ignore[no-any-return]
        lambda e: (
            (e["ex"] + e["ey"]) * (_SOBEL_SCALE * 100 / 255)
            + e["skin"]
            + ((e["a"] - 128) * (e["a"] - 128) + (e["b"] - 128) * (e["b"] - 128) > limit) * 255.0
        ),
        ex=edges_x.convert("F"),
        ey=edges_y.convert("F"),
        skin=skin.convert("F"),
        a=a_channel.convert("F"),
        b=b_channel.convert("F"),
    ).convert("F")


def _inner(filtered: Image.Image) -> Image.Image:
    """``filtered`` with its one-pixel border set to "no edge": Pillow copies border pixels unfiltered."""
    width, height = filtered.size
    out = Image.new("L", filtered.size, 128)
    if width > 2 and height > 2:
        out.paste(filtered.crop((1, 1, width - 1, height - 1)), (1, 1))
    return out


def _sigma(size: geometry.Size, window: geometry.Size) -> float:
    """libvips' blur radius: a sixth of the crop window's diagonal, in grid cells."""
    return math.hypot(window[0] * GRID / size[0], window[1] * GRID / size[1]) / 6


def _blurred_max(values: list[float], *, sigma: float) -> tuple[int, int]:
    """The (x, y) of the largest value of the 32x32 ``values`` after a Gaussian blur.

    Outside the grid counts as zero: extending the edges instead would let one busy corner cell,
    replicated across the whole mask, outweigh a subject in the middle.
    """
    # libvips' gaussblur stops its mask where it falls below 0.2 of the peak (min_ampl): so does this one.
    radius = max(1, math.floor(sigma * math.sqrt(-2 * math.log(_MIN_AMPLITUDE))))
    weights = [math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-radius, radius + 1)]
    total = sum(weights)
    weights = [w / total for w in weights]

    def blur_rows(grid: list[float]) -> list[float]:
        out = []
        for y in range(GRID):
            row = grid[y * GRID : (y + 1) * GRID]
            for x in range(GRID):
                out.append(sum(w * row[x + i - radius] for i, w in enumerate(weights) if 0 <= x + i - radius < GRID))
        return out

    def transpose(grid: list[float]) -> list[float]:
        return [grid[x * GRID + y] for y in range(GRID) for x in range(GRID)]

    blurred = transpose(blur_rows(transpose(blur_rows(values))))
    best = max(range(len(blurred)), key=lambda i: (blurred[i], -i))  # the first maximum, as vips_max
    return best % GRID, best // GRID
