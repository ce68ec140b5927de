"""Animated thumbnails (``animated = "keep"``): every frame of a GIF or WebP, resized once per box, as animated WebP.

Pillow composes each frame before handing it over (GIF disposal and
transparency, WebP blending), so every frame here is a full picture: it is
resized for every box by the same plan the still path uses (a smaller box from
a larger result), and the frames of a box are encoded as one animated WebP
with the source's per-frame durations and loop count.

Limits come before the work, so an animation never costs more than a bounded
amount: frames (``max_frames``), the pixels of all frames together
(``max_pixels``, the same budget one still image gets) and the total duration
(``max_duration``). Frames and pixels are read from the header; the duration
adds up while frames decode, and the first frame past it stops the work. Over
a limit the caller renders the first frame as a still and reports a warning:
never a failure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageFile, ImageSequence

from core.imaging import attention, colour, decode, geometry, plan
from core.imaging.types import CONTENT_TYPES, Box, Fit, Thumbnail

#: Output formats that hold an animation here (WebP: alpha, small files, every current browser).
ANIMATED_FORMATS = frozenset({"webp"})
#: Source formats whose animation is kept.
SOURCE_FORMATS = frozenset({"GIF", "WEBP"})
#: Pillow's WebP encoder default quality for animations when none is asked.
DEFAULT_QUALITY = 80


class OverLimit(Exception):
    """The animation is over a limit; the message says which (it becomes the outcome's warning)."""


def is_animated(image: ImageFile.ImageFile) -> bool:
    """Whether ``image`` (opened header-only) is an animation this module keeps."""
    return decode.pillow_format(image) in SOURCE_FORMATS and decode.frame_count(image) > 1


def check_limits(
    image: ImageFile.ImageFile, *, boxes: Sequence[Box], fit: Fit, max_frames: int, max_pixels: int
) -> None:
    """Refuses an animation over the frame or pixel limits (header only).

    ``max_pixels`` bounds the source's frames together (the decoding work) and, separately, the
    thumbnails' frames together (they are all held until encoded: a cover box enlarges small frames).

    Raises:
        OverLimit: naming the limit.
    """
    frames = decode.frame_count(image)
    if frames > max_frames:
        raise OverLimit(f"animation has {frames} frames, over THUMBS_MAX_FRAMES={max_frames}; kept the first frame")
    total = frames * image.size[0] * image.size[1]
    if total > max_pixels:
        raise OverLimit(
            f"animation has {total:,} pixels over its {frames} frames, over THUMBS_MAX_PIXELS={max_pixels:,}; "
            "kept the first frame"
        )
    sizes = [geometry.output_size(image.size, box, fit) for box in dict.fromkeys(boxes)]
    produced = frames * sum(width * height for width, height in sizes)
    if produced > max_pixels:
        raise OverLimit(
            f"animated thumbnails would hold {produced:,} pixels over {frames} frames, over THUMBS_MAX_PIXELS="
            f"{max_pixels:,}; kept the first frame"
        )


def render(
    image: ImageFile.ImageFile,
    *,
    boxes: Sequence[Box],
    fit: Fit,
    encodings: Sequence[tuple[str, int | None]],
    max_duration: float,
    reuse_factor: float,
) -> dict[tuple[Box, str], Thumbnail]:
    """Renders every frame of ``image`` for every box, encoded in each of ``encodings``.

    Raises:
        OverLimit: The total duration passes ``max_duration`` seconds.
    """
    orientation = decode.orientation_of(decode.read_exif(image))
    loop = int(image.info.get("loop", 0))
    frames: dict[Box, list[Image.Image]] = {box: [] for box in dict.fromkeys(boxes)}
    durations: list[int] = []
    steps: list[plan.Step] | None = None
    for frame in ImageSequence.Iterator(image):
        rgba = frame.convert("RGBA")  # loads the frame: WebP sets its duration only then
        duration = int(frame.info.get("duration", 0) or 0)
        durations.append(duration)
        if sum(durations) > max_duration * 1000:
            raise OverLimit(
                f"animation lasts over {max_duration:g} s (THUMBS_MAX_DURATION) by frame {len(durations)}; "
                "kept the first frame"
            )
        full = decode.apply_orientation(rgba, orientation)
        if steps is None:  # every frame has the canvas size: one plan (and one smart focus) for all
            focus = None
            if fit is Fit.SMART:
                focus = attention.focus_with_pillow(full)
            steps = plan.plan_resizes(
                full.size, source_size=full.size, boxes=boxes, fit=fit, reuse_factor=reuse_factor, focus=focus
            )
        for box, thumbnail in _execute(full, steps):
            frames[box].append(thumbnail)
    out: dict[tuple[Box, str], Thumbnail] = {}
    for box, images in frames.items():
        ready = [colour.for_format(colour.working_mode(im), "webp") for im in images]
        for fmt, quality in encodings:
            body = _encode(ready, durations=durations, loop=loop, quality=quality)
            out[(box, fmt)] = Thumbnail(
                box=box,
                width=ready[0].width,
                height=ready[0].height,
                format=fmt,
                content_type=CONTENT_TYPES[fmt],
                body=body,
                frames=len(ready),
            )
    return out


def _execute(full: Image.Image, steps: list[plan.Step]) -> list[tuple[Box, Image.Image]]:
    images = [full]
    done = []
    for step in steps:
        source = images[step.source]
        if not step.resizes:
            done.append((step.box, source))
            continue
        resized = source.resize(step.size, Image.Resampling.LANCZOS, box=step.crop)
        images.append(resized)
        done.append((step.box, resized))
    return done


def _encode(frames: list[Image.Image], *, durations: list[int], loop: int, quality: int | None) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=loop,
        quality=DEFAULT_QUALITY if quality is None else quality,
        method=4,
    )
    return buffer.getvalue()


def frame_durations(data: bytes) -> tuple[list[int], int]:
    """The per-frame durations (ms) and loop count of an animated file (for tests and reports)."""
    with Image.open(io.BytesIO(data)) as image:
        durations = []
        for frame in ImageSequence.Iterator(image):
            frame.load()  # WebP sets a frame's duration when it loads
            durations.append(int(frame.info.get("duration", 0) or 0))
        return durations, int(image.info.get("loop", 0))
