"""Pure size arithmetic for fitting a source into boxes (no Pillow).

Sizes are ``(width, height)`` tuples in displayed orientation; rectangles are
``(left, top, right, bottom)`` floats, as Pillow's ``resize(box=...)`` takes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from core.imaging.types import Box, Fit

#: The reduced decode is at least this many times the size the largest box
#: needs, so the final resampling still has pixels to average (Pillow's
#: thumbnail uses 2.0). 1.9: the common 4:3 sensors (4000x3000, 4032x3024,
#: 8064x6048) reduce to 1.95-1.97x a 1024 or 256 px box, where 2.0 made them
#: decode at twice the resolution (12 MP, 3 sizes to 1024: 933 -> 675 M
#: instructions; 1 size at 256: 415 -> 278 M, sharp's 276 M). Measured on 13
#: photos scikit-image ships, at 1.95x: median -0.2 dB PSNR against a full
#: decode (the same as at exactly 2.0, which was already reduced), worst -2.2
#: dB on a scanned text page (-1.7 dB at 2.0). Below ~1.5x the DCT's block
#: averaging shows (-1 to -3 dB): sharp's default goes down to 1.0x.
DRAFT_REDUCING_GAP = 1.9

Size = tuple[int, int]
Rect = tuple[float, float, float, float]

#: Orientations (EXIF 5-8) whose transform swaps width and height.
SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})


def contain_size(source: Size, box: Box) -> Size:
    """Largest size with the source's aspect ratio inside ``box``; never upscales.

    Each side is rounded to the nearest pixel, clamped to the box, and at
    least 1 (a 1x10000 strip in a 128x128 box becomes 1x128).
    """
    width, height = source
    if width <= box.width and height <= box.height:
        return source
    scale = min(box.width / width, box.height / height)
    return (
        max(1, min(box.width, round(width * scale))),
        max(1, min(box.height, round(height * scale))),
    )


def cover_crop(source: Size, box: Box) -> Rect:
    """The centred region of ``source`` with ``box``'s aspect ratio.

    Resizing this region to exactly ``box`` is ``ImageOps.fit`` with centring
    (0.5, 0.5): the overflow on the long side is cropped evenly.
    """
    width, height = source
    box_ratio = box.width / box.height
    if width / height > box_ratio:
        crop_width, crop_height = height * box_ratio, float(height)
    else:
        crop_width, crop_height = float(width), width / box_ratio
    left = (width - crop_width) / 2
    top = (height - crop_height) / 2
    return clamp_rect((left, top, left + crop_width, top + crop_height), source)


def focus_crop(source: Size, box: Box, focus: tuple[float, float]) -> Rect:
    """The region of ``source`` with ``box``'s aspect ratio centred on ``focus`` (fractions of the size).

    As large as :func:`cover_crop`'s, moved so its centre is as close to the
    focus point as the image's edges allow (libvips' ``smartcrop`` placement).
    """
    width, height = source
    left, top, right, bottom = cover_crop(source, box)
    crop_width, crop_height = right - left, bottom - top
    left = min(max(0.0, focus[0] * width - crop_width / 2), width - crop_width)
    top = min(max(0.0, focus[1] * height - crop_height / 2), height - crop_height)
    return clamp_rect((left, top, left + crop_width, top + crop_height), source)


def output_size(source: Size, box: Box, fit: Fit) -> Size:
    """The size of the thumbnail rendered for ``box``."""
    if fit is not Fit.CONTAIN:
        return (box.width, box.height)
    return contain_size(source, box)


def source_scale(source: Size, box: Box, fit: Fit) -> float:
    """How much the source is scaled for ``box`` (below 1 shrinks)."""
    width, height = source
    if fit is not Fit.CONTAIN:
        return max(box.width / width, box.height / height)
    return min(1.0, box.width / width, box.height / height)


def draft_request(
    source: Size,
    boxes: Iterable[Box],
    fit: Fit,
    *,
    orientation: int,
    reducing_gap: float,
) -> Size:
    """The size to ask a reducing decoder (JPEG ``draft``) for.

    ``reducing_gap`` times the largest scaled source any box needs, so the
    final resampling still shrinks by at least that factor (Pillow's
    ``thumbnail`` uses 2). ``source`` is in displayed orientation; the answer
    is in stored orientation, because the decoder runs before the image is
    rotated.
    """
    scale = max(source_scale(source, box, fit) for box in boxes)
    width, height = source
    request = (
        min(width, math.ceil(width * scale * reducing_gap)),
        min(height, math.ceil(height * scale * reducing_gap)),
    )
    if orientation in SWAPPING_ORIENTATIONS:
        return (request[1], request[0])
    return request


def jpeg_scale(stored: Size, request: Size) -> int:
    """The DCT scaling denominator (1, 2, 4 or 8) a JPEG decoder should use for ``request``.

    The largest reduction that keeps both sides at least as large as asked:
    exactly the choice of Pillow's ``JpegImageFile.draft``, so both engines
    decode a JPEG at the same size.
    """
    ratio = min(stored[0] // max(1, request[0]), stored[1] // max(1, request[1]))
    return next(scale for scale in (8, 4, 2, 1) if ratio >= scale)


def displayed_size(stored: Size, orientation: int) -> Size:
    """The size of a stored raster once its EXIF orientation is applied."""
    if orientation in SWAPPING_ORIENTATIONS:
        return (stored[1], stored[0])
    return stored


def scale_rect(rect: Rect, *, x_scale: float, y_scale: float) -> Rect:
    """``rect`` in the coordinates of an image scaled by the given factors."""
    left, top, right, bottom = rect
    return (left * x_scale, top * y_scale, right * x_scale, bottom * y_scale)


def clamp_rect(rect: Rect, size: Size) -> Rect:
    """``rect`` limited to an image of ``size``.

    Float rounding can put an edge a hair outside the image, and Pillow's
    ``resize(box=...)`` refuses any box that leaves the image.
    """
    left, top, right, bottom = rect
    width, height = size
    return (max(0.0, left), max(0.0, top), min(float(width), right), min(float(height), bottom))


def rect_contains(outer: Rect, inner: Rect) -> bool:
    """Whether ``inner`` lies within ``outer`` (allowing float rounding)."""
    slack = 1e-6 * max(abs(value) for value in (*outer, 1.0))
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )
