"""Which image each thumbnail is resized from, worked out before any pixel moves (no Pillow).

Both engines (:mod:`core.imaging.render` with Pillow, :mod:`core.imaging.vips_engine`
with libvips) execute the same plan, so they agree on output sizes, crops and
on which earlier result a smaller thumbnail is derived from:

* boxes are served largest output first (repeated boxes once);
* a box is resized from the smallest earlier result that shows its region at
  least ``reuse_factor`` times over (so LANCZOS still has pixels to average),
  else from the decoded image;
* when the chosen source already has exactly the output's pixels (contain
  without upscaling), it is used as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.imaging import geometry
from core.imaging.geometry import Rect, Size
from core.imaging.types import Box, Fit

#: Index of the decoded image among the images a plan refers to.
DECODED = 0


@dataclass(frozen=True)
class Step:
    """One thumbnail of the plan.

    Attributes:
        box: The box asked for.
        size: The output size, in the plan's orientation.
        region: The part of the decoded image the output shows.
        source: Index of the image resized: :data:`DECODED`, or ``k`` for the
            result of the k-th step that resized (1-based, in plan order).
        crop: ``region`` in the source image's own pixel coordinates.
        resizes: False when the source already is the output (no new image).
    """

    box: Box
    size: Size
    region: Rect
    source: int
    crop: Rect
    resizes: bool


def plan_resizes(
    decoded: Size,
    *,
    source_size: Size,
    boxes: Sequence[Box],
    fit: Fit,
    reuse_factor: float,
    swap: bool = False,
    focus: tuple[float, float] | None = None,
) -> list[Step]:
    """Plans the thumbnails of ``boxes``, largest first.

    Args:
        decoded: Size of the decoded (possibly reduced) image.
        source_size: The full-resolution size in the same orientation as
            ``decoded``: contain sizes come from it, not from the reduced
            decode, so they do not depend on how much the decoder reduced.
        boxes: The boxes; repeats are planned once.
        fit: How each box is filled.
        reuse_factor: How much larger than an output an earlier result must
            be to serve as its source.
        swap: The sizes are in stored orientation and the image displays
            rotated by 90 degrees (EXIF 5-8): boxes are swapped to match.
            Centred crops and aspect-preserving sizes commute with the
            rotation, so the plan equals the displayed-orientation one, rotated.
    """
    full: Rect = (0.0, 0.0, float(decoded[0]), float(decoded[1]))
    # (size, region) of every image a step may resize: the decoded one first.
    images: list[tuple[Size, Rect]] = [(decoded, full)]

    def stored(box: Box) -> Box:
        return Box(box.height, box.width) if swap else box

    # dict.fromkeys: drop repeated boxes, keep a stable order among equals.
    largest_first = sorted(
        dict.fromkeys(boxes),
        key=lambda box: _area(geometry.output_size(source_size, stored(box), fit)),
        reverse=True,
    )
    steps = []
    for box in largest_first:
        size = geometry.output_size(source_size, stored(box), fit)
        if fit is Fit.CONTAIN:
            region = full
        elif fit is Fit.SMART and focus is not None:
            region = geometry.focus_crop(decoded, stored(box), focus)
        else:
            region = geometry.cover_crop(decoded, stored(box))
        source = _pick_source(images, region=region, size=size, reuse_factor=reuse_factor)
        (width, height), (left, top, right, bottom) = images[source]
        crop = geometry.clamp_rect(
            geometry.scale_rect(
                (region[0] - left, region[1] - top, region[2] - left, region[3] - top),
                x_scale=width / (right - left),
                y_scale=height / (bottom - top),
            ),
            (width, height),
        )
        # Already the right pixels (e.g. contain, no upscale): no new image.
        resizes = not (size == (width, height) and crop == (0.0, 0.0, float(width), float(height)))
        if resizes:
            images.append((size, region))
        steps.append(Step(box=box, size=size, region=region, source=source, crop=crop, resizes=resizes))
    return steps


def _area(size: Size) -> int:
    return size[0] * size[1]


def _pick_source(images: list[tuple[Size, Rect]], *, region: Rect, size: Size, reuse_factor: float) -> int:
    """The smallest earlier result showing ``region`` at ``reuse_factor`` x ``size``, else the decoded image."""
    for index in range(len(images) - 1, DECODED, -1):
        (width, height), shown = images[index]
        if not geometry.rect_contains(shown, region):
            continue
        x_scale = width / (shown[2] - shown[0])
        y_scale = height / (shown[3] - shown[1])
        if (region[2] - region[0]) * x_scale >= reuse_factor * size[0] and (
            region[3] - region[1]
        ) * y_scale >= reuse_factor * size[1]:
            return index
    return DECODED
