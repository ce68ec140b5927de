"""Animated thumbnails (``animated = "keep"``): every frame of a GIF or WebP, resized once per box, as animated WebP.

Pillow composes each frame before handing it over (GIF disposal and
transparency, WebP blending), so every frame here is a full picture: it is
resized for every box by the same plan the still path uses (a smaller box from
a larger result), and the frames of a box are encoded as one animated WebP
with the source's per-frame durations and loop count.

Limits come before the work, so an animation never costs more than a bounded
amount: frames (``max_frames``), the pixels of all frames together
(``max_pixels``, the same budget one still image gets) and the total duration
(``max_duration``). Frames and pixels are read from the headers; the duration
adds up while frames decode, and the first frame past it stops the work. Over
a limit the caller renders the first frame as a still and reports a warning:
never a failure.

Pixels are counted on the canvas every frame is composed on, which is not
always the size the file declares: Pillow grows a GIF's canvas to hold a frame
larger than its logical screen, so a 47 KB GIF with a 16x16 screen and first
frame can make Pillow compose an 8000x8000 second frame. Every frame's extent
is read from its header first (:func:`core.imaging.decode.animation_canvas`);
a canvas over ``max_pixels`` is an image over the limit (``too_large``, as a
still of that size would be), refused before any frame is decoded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageFile, ImageSequence

from core.errors import ImageTooLarge
from core.imaging import attention, colour, decode, geometry, plan
from core.imaging.encoding import Encoding
from core.imaging.geometry import Size
from core.imaging.types import CONTENT_TYPES, Box, Fit, Thumbnail

#: Output formats that hold an animation here (WebP: alpha, small files, every current browser).
ANIMATED_FORMATS = frozenset({"webp"})
#: Source formats whose animation is kept.
SOURCE_FORMATS = frozenset({"GIF", "WEBP"})
#: A kept animation's canvas may hold at most this share of THUMBS_MAX_PIXELS. Each frame is composed as
#: RGB(A) next to the previous composite and converted once more, about 16.6 bytes a canvas pixel (measured:
#: 1,064 MB peak for two 8000x8000 frames), where the costliest still, an RGBA PNG, takes 7.7 (the documented
#: memory table): a quarter keeps every kept animation under what the largest still of the limit costs.
CANVAS_SHARE = 4


class OverLimit(Exception):
    """The animation is over a limit; the message says which (it becomes the outcome's warning)."""


def is_animated(image: ImageFile.ImageFile) -> bool:
    """Whether ``image`` (opened header-only) is an animation this module keeps."""
    return decode.pillow_format(image) in SOURCE_FORMATS and decode.frame_count(image) > 1


def check_limits(
    image: ImageFile.ImageFile, *, canvas: Size, boxes: Sequence[Box], fit: Fit, max_frames: int, max_pixels: int
) -> None:
    """Refuses an animation over the frame or pixel limits (headers only).

    ``canvas`` is the largest size a frame is composed at (:func:`core.imaging.decode.animation_canvas`).
    ``max_pixels`` bounds it; a :data:`CANVAS_SHARE` of it bounds each frame kept animated; and it bounds
    the source's frames together (the decoding work) and, separately, the thumbnails' frames together (they
    are all held until encoded: a cover box enlarges small frames).

    Raises:
        ImageTooLarge: The canvas alone is over ``max_pixels`` (a frame larger than the image declares).
        OverLimit: naming the limit.
    """
    frames = decode.frame_count(image)
    what = f"a frame of this {frames}-frame animation grows its canvas, which"
    decode.check_pixels(canvas, max_pixels=max_pixels, what=what)
    if canvas[0] * canvas[1] > max_pixels // CANVAS_SHARE:
        raise OverLimit(
            f"animation frames are composed at {canvas[0]}x{canvas[1]}, over 1/{CANVAS_SHARE} of THUMBS_MAX_PIXELS="
            f"{max_pixels:,}, the most an animated canvas may hold; kept the first frame"
        )
    if frames > max_frames:
        raise OverLimit(f"animation has {frames} frames, over THUMBS_MAX_FRAMES={max_frames}; kept the first frame")
    total = frames * canvas[0] * canvas[1]
    if total > max_pixels:
        raise OverLimit(
            f"animation has {total:,} pixels over its {frames} frames, over THUMBS_MAX_PIXELS={max_pixels:,}; "
            "kept the first frame"
        )
    sizes = [geometry.output_size(canvas, box, fit) for box in dict.fromkeys(boxes)]
    produced = frames * sum(width * height for width, height in sizes)
    if produced > max_pixels:
        raise OverLimit(
            f"animated thumbnails would hold {produced:,} pixels over {frames} frames, over THUMBS_MAX_PIXELS="
            f"{max_pixels:,}; kept the first frame"
        )


def render(
    image: ImageFile.ImageFile,
    *,
    canvas: Size,
    boxes: Sequence[Box],
    fit: Fit,
    encodings: Sequence[Encoding],
    max_duration: float,
    reuse_factor: float,
) -> dict[tuple[Box, str], Thumbnail]:
    """Renders every frame of ``image`` for every box, encoded in each of ``encodings``.

    Every frame is composed on ``canvas`` (checked by :func:`check_limits`): a GIF frame Pillow composed on
    a smaller canvas, before a later frame grew it, is placed at its top left, as Pillow grows it.

    Raises:
        OverLimit: The total duration passes ``max_duration`` seconds.
        ImageTooLarge: Pillow composed a frame larger than ``canvas`` (the headers said otherwise).
    """
    orientation = decode.orientation_of(decode.read_exif(image))
    loop = int(image.info.get("loop", 0))
    frames: dict[Box, list[Image.Image]] = {box: [] for box in dict.fromkeys(boxes)}
    durations: list[int] = []
    steps: list[plan.Step] | None = None
    for frame in ImageSequence.Iterator(image):
        if frame.size[0] > canvas[0] or frame.size[1] > canvas[1]:  # before load(): nothing composed yet
            raise ImageTooLarge(f"frame {len(durations) + 1} is {frame.size[0]}x{frame.size[1]}, larger than its "
                                f"headers said ({canvas[0]}x{canvas[1]}); refused before decoding it")  # fmt: skip
        rgba = _on_canvas(frame.convert("RGBA"), canvas)  # loads the frame: WebP sets its duration only then
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
        for encoding in encodings:
            body = _encode(ready, durations=durations, loop=loop, encoding=encoding)
            out[(box, encoding.format)] = Thumbnail(
                box=box,
                width=ready[0].width,
                height=ready[0].height,
                format=encoding.format,
                content_type=CONTENT_TYPES[encoding.format],
                body=body,
                frames=len(ready),
            )
    return out


def _on_canvas(frame: Image.Image, canvas: Size) -> Image.Image:
    """``frame`` on a transparent ``canvas`` at its top left (a no-op when it already has that size)."""
    if frame.size == canvas:
        return frame
    placed = Image.new("RGBA", canvas, (0, 0, 0, 0))
    placed.paste(frame, (0, 0))
    return placed


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


def _encode(frames: list[Image.Image], *, durations: list[int], loop: int, encoding: Encoding) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=loop,
        quality=encoding.chosen_quality,
        method=encoding.chosen_effort,
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
