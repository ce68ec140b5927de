"""The imaging engine's entry points: probe a source, render its thumbnails.

One source, any number of boxes, one decode:

1. Open header-only and refuse more than ``max_pixels`` pixels before any
   pixel is decoded (:mod:`core.imaging.decode`).
2. Decode reduced where the format allows (JPEG DCT scaling, a HEIF
   embedded thumbnail) to twice the size the largest box needs, computed in
   the stored orientation.
3. Apply the EXIF orientation (all 8 values) to that small image; corrupt
   EXIF counts as orientation 1.
4. Bring the pixels to a resizable mode (:func:`core.imaging.colour.working_mode`).
5. Resize for each box, largest first, with LANCZOS; a smaller box is derived
   from an earlier thumbnail that covers its region at least twice over,
   else from the decoded image (:mod:`core.imaging.plan`).
6. Convert each thumbnail to sRGB (ICC profiles, CMYK), to a mode the output
   format holds (alpha flattened onto white for JPEG), and encode it with
   only the metadata asked for.

Steps 2-6 run in Pillow, or, where the optional ``fast`` extra is installed
and the benchmark shows it winning (:mod:`core.imaging.engine`), all in
libvips (:mod:`core.imaging.vips_render`), which also shrinks WebP while
decoding and streams rows instead of holding the raster. Step 1 is always
Pillow's, and both engines follow the same plan, colour rules
(:func:`core.imaging.colour.profile_verdict`), modes, metadata policy and
encoder settings (:mod:`core.imaging.encoding`), so they make the same
thumbnails. The engine is not part of what a thumbnail is: it is not in
``polythumb_params``, and changing ``THUMBS_ENGINE`` re-renders nothing.

Decisions:

* Animated GIF, WebP, AVIF and HEIF render their first frame; multi-page
  TIFF its first page; ICO its largest entry. With ``animated="keep"``, GIF
  and WebP animations become animated WebP outputs (:mod:`core.imaging.animation`);
  over a limit they fall back to the first frame with a warning.
* ``Fit.SMART`` is ``Fit.COVER`` with the crop centred on the most salient
  point instead of the middle (:mod:`core.imaging.attention`).
* Several formats cost one decode and one resize chain: each thumbnail is
  encoded once per format.
* ``Fit.CONTAIN`` never upscales (a 64x64 source in a 256x256 box stays
  64x64). ``Fit.COVER`` always returns exactly the box, centre-cropped, and
  therefore upscales sources smaller than the box: callers ask for cover when
  they lay thumbnails out in a fixed grid.
* ``strip_metadata=True`` writes no EXIF, XMP, ICC profile or comment (the
  pixels are sRGB by then). ``strip_metadata=False`` keeps the source EXIF
  with Orientation reset to 1 (the pixels are already upright) and embeds an
  sRGB profile when the source had a usable one; XMP and comments are never
  copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageFile

from core.errors import ConfigError, ImageTooLarge, PolythumbError, UnsupportedImage
from core.imaging import animation, attention, colour, decode, encode, geometry, plan
from core.imaging import engine as engines
from core.imaging.encoding import Encoding, effort_error
from core.imaging.geometry import DRAFT_REDUCING_GAP
from core.imaging.resized import Resized
from core.imaging.types import CONTENT_TYPES, FORMATS, Box, Fit, Rendered, SourceProbe, Thumbnail

#: What ``encodings`` may hold: an :class:`Encoding`, or ``(format, quality)`` / ``(format, quality, effort)``.
EncodingLike = Encoding | tuple[str, int | None] | tuple[str, int | None, int | None]

#: Resizing from the decoded image first shrinks by whole factors with a box
#: filter down to this many times the target, then resamples with LANCZOS.
#: After a DCT-reduced decode the remaining factor is 2-4, where 3.0 never
#: reduces: 1.5 halves first whenever the factor is 3 or more, making the
#: resize 2-3x cheaper (12 MP to 1024 px: 260 -> 95 ms of CPU; to 256 px from
#: the 1/4 decode: 15 -> 8 ms) at 50-52 dB PSNR against one full LANCZOS pass.
#: 1.3 saves a little more but softens fine detail (46 dB; a corpus test sees it).
RESIZE_REDUCING_GAP = 1.5
#: An earlier thumbnail is a good enough source when it is this much larger.
REUSE_FACTOR = 2.0


def probe_image(data: bytes, *, max_pixels: int) -> SourceProbe:
    """Reads what a source is without decoding its pixels.

    Args:
        data: The source file's bytes.
        max_pixels: Largest width*height accepted.

    Returns:
        The format, displayed size (after EXIF orientation), mode, frame count
        and whether the source has transparency.

    Raises:
        NotAnImage: Empty, or not a format we read.
        UnsupportedImage: A recognised format we do not read, or HEIC without
            the ``polythumb[heif]`` extra.
        ImageTooLarge: More than ``max_pixels`` pixels.
        TruncatedImage: The header is corrupt.
        ConfigError: ``max_pixels`` is not a positive integer.
    """
    _check_max_pixels(max_pixels)
    try:
        with decode.open_image(data, max_pixels=max_pixels) as image:
            orientation = decode.orientation_of(decode.read_exif(image))
            width, height = decode.displayed_size(image, orientation)
            return SourceProbe(
                format=decode.pillow_format(image).lower(),
                width=width,
                height=height,
                mode=image.mode,
                frames=decode.frame_count(image),
                has_alpha=decode.has_alpha(image),
            )
    except PolythumbError:
        raise
    except MemoryError as exc:
        raise ImageTooLarge("ran out of memory probing the image") from exc
    except Exception as exc:  # never let a raw Pillow error escape
        raise UnsupportedImage(f"could not probe the image: {exc}") from exc


def render_thumbnails(
    data: bytes,
    *,
    boxes: Sequence[Box],
    fit: Fit,
    format: str,
    quality: int | None,
    strip_metadata: bool,
    max_pixels: int,
    engine: str = "auto",
) -> list[Thumbnail]:
    """Renders one thumbnail per box from a single decode of ``data``.

    Args:
        data: The source file's bytes.
        boxes: Bounding boxes; the result follows their order.
        fit: ``Fit.CONTAIN`` (inside the box, never upscaled) or
            ``Fit.COVER`` (exactly the box, centre-cropped, upscaled if needed).
        format: Output format, one of :data:`core.imaging.types.FORMATS`.
        quality: 1-100, or None for the per-format default (JPEG 85, WebP 80,
            AVIF 60); PNG ignores it.
        strip_metadata: Write no EXIF/XMP/ICC/comments; when False, keep the
            source EXIF with Orientation 1 and an sRGB profile.
        max_pixels: Largest source width*height accepted.
        engine: ``auto``, ``pillow`` or ``vips`` (THUMBS_ENGINE); never changes what a thumbnail is.

    Returns:
        One :class:`Thumbnail` per box, in the order of ``boxes``.

    Raises:
        NotAnImage, UnsupportedImage, ImageTooLarge, TruncatedImage: The source
            cannot be rendered (see :func:`probe_image`).
        ConfigError: An argument is invalid (unknown format, quality out of
            range, no boxes, a box larger than ``max_pixels``).
    """
    return render_outputs(
        data,
        boxes=boxes,
        fit=fit,
        encodings=[Encoding(format, quality)],
        strip_metadata=strip_metadata,
        max_pixels=max_pixels,
        engine=engine,
    ).thumbnails


def render_outputs(
    data: bytes,
    *,
    boxes: Sequence[Box],
    fit: Fit,
    encodings: Sequence[EncodingLike],
    strip_metadata: bool,
    max_pixels: int,
    animated: str = "first",
    max_frames: int = 300,
    max_duration: float = 60.0,
    engine: str = "auto",
) -> Rendered:
    """Renders every box in every encoding from a single decode of ``data``.

    Args:
        data: The source file's bytes.
        boxes: Bounding boxes; the result follows their order.
        fit: How each box is filled (see :func:`render_thumbnails`; ``Fit.SMART``
            crops around the most salient point).
        encodings: Each format with its quality and effort (:class:`core.imaging.encoding.Encoding`, or a
            ``(format, quality[, effort])`` tuple); every box is encoded in each.
        strip_metadata: As :func:`render_thumbnails`.
        max_pixels: Largest source width*height accepted (for an animation:
            all its frames together).
        animated: ``first`` renders a still; ``keep`` turns a GIF or WebP
            animation into animated WebP outputs (other formats get the first frame).
        max_frames: Most frames an animation may have to be kept.
        max_duration: Longest animation kept, in seconds.
        engine: As :func:`render_thumbnails` (animations are always Pillow's).

    Returns:
        The thumbnails, box by box (in the order of ``boxes``), each box's in
        the order of ``encodings``; and warnings (an animation over a limit).

    Raises:
        The errors of :func:`render_thumbnails`.
    """
    wanted = [_encoding(item) for item in encodings]
    fit = _check_arguments(boxes=boxes, fit=fit, encodings=wanted, max_pixels=max_pixels)
    engines.checked(engine)
    try:
        warnings: list[str] = []
        done: dict[tuple[Box, str], Thumbnail] = {}
        size: tuple[int, int] | None = None  # the source's, from the header of the decode that rendered
        moving = [item for item in wanted if item.format in animation.ANIMATED_FORMATS]
        if animated == "keep" and moving:
            limits = _AnimationLimits(max_pixels=max_pixels, max_frames=max_frames, max_duration=max_duration)
            done, size = _render_animated(
                data, boxes=boxes, fit=fit, encodings=moving, limits=limits, warnings=warnings
            )
        still = [item for item in wanted if (boxes[0], item.format) not in done]
        if still:
            stills, size = _render(
                data,
                boxes=boxes,
                fit=fit,
                encodings=still,
                strip_metadata=strip_metadata,
                max_pixels=max_pixels,
                engine=engine,
            )
            done.update(stills)
        formats = dict.fromkeys(item.format for item in wanted)
        ordered = [done[(box, fmt)] for box in boxes for fmt in formats]
        return Rendered(thumbnails=ordered, warnings=tuple(warnings), source_size=size)
    except PolythumbError:
        raise
    except MemoryError as exc:
        raise ImageTooLarge("ran out of memory rendering thumbnails") from exc
    except Exception as exc:  # never let a raw Pillow error escape
        names = "/".join(item.format for item in wanted)
        raise UnsupportedImage(f"could not render {names} thumbnails: {exc}") from exc


@dataclass(frozen=True)
class _AnimationLimits:
    max_pixels: int
    max_frames: int
    max_duration: float


def _render_animated(
    data: bytes,
    *,
    boxes: Sequence[Box],
    fit: Fit,
    encodings: Sequence[Encoding],
    limits: _AnimationLimits,
    warnings: list[str],
) -> tuple[dict[tuple[Box, str], Thumbnail], tuple[int, int]]:
    """The animated outputs, or none (and a warning) when the animation is over a limit; and the source's size."""
    with decode.open_image(data, max_pixels=limits.max_pixels) as image:
        size = image.size
        if not animation.is_animated(image):
            return {}, size  # a still GIF/WebP: the still path renders it
        canvas = decode.animation_canvas(image, data)
        try:
            animation.check_limits(
                image, canvas=canvas, boxes=boxes, fit=fit, max_frames=limits.max_frames, max_pixels=limits.max_pixels
            )
            rendered = animation.render(
                image,
                canvas=canvas,
                boxes=boxes,
                fit=fit,
                encodings=encodings,
                max_duration=limits.max_duration,
                reuse_factor=REUSE_FACTOR,
            )
        except animation.OverLimit as exc:
            warnings.append(str(exc))
            return {}, size
        return rendered, size


def _encoding(item: EncodingLike) -> Encoding:
    """``item`` as an :class:`Encoding` (tuples are how most callers write one)."""
    if isinstance(item, Encoding):
        return item
    if not isinstance(item, tuple) or not 2 <= len(item) <= 3:
        raise ConfigError(f"an encoding is (format, quality[, effort]) or an Encoding; got {item!r}")
    return Encoding(*item)


def _check_max_pixels(max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ConfigError(f"max_pixels must be a positive integer, got {max_pixels!r}")


def _check_arguments(
    *,
    boxes: Sequence[Box],
    fit: Fit,
    encodings: Sequence[Encoding],
    max_pixels: int,
) -> Fit:
    _check_max_pixels(max_pixels)
    if not encodings:
        raise ConfigError("encodings must name at least one format")
    for encoding in encodings:
        if encoding.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}; got {encoding.format!r}")
        quality = encoding.quality
        if quality is not None and (
            isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100
        ):
            raise ConfigError(f"quality must be an integer from 1 to 100 or None; got {quality!r}")
        problem = effort_error(encoding.format, encoding.effort)
        if problem is not None:
            raise ConfigError(problem)
    if not boxes:
        raise ConfigError("boxes must contain at least one Box")
    for box in boxes:
        if not isinstance(box, Box):
            raise ConfigError(f"boxes must contain Box values; got {box!r}")
        # Cover output is exactly the box, whatever the source size, so the
        # box itself must respect the limit (contain never exceeds the source).
        if fit in (Fit.COVER, Fit.SMART) and box.width * box.height > max_pixels:
            raise ConfigError(f"cover box {box} is larger than max_pixels ({max_pixels:,})")
    try:
        return Fit(fit)
    except ValueError:
        raise ConfigError(f"fit must be one of {', '.join(Fit)}; got {fit!r}") from None


def _render(
    data: bytes,
    *,
    boxes: Sequence[Box],
    fit: Fit,
    encodings: Sequence[Encoding],
    strip_metadata: bool,
    max_pixels: int,
    engine: str,
) -> tuple[dict[tuple[Box, str], Thumbnail], tuple[int, int]]:
    """The still outputs, from one decode; and the source's size as stored (from its header)."""
    with decode.open_image(data, max_pixels=max_pixels) as image:
        size = image.size
        if engines.uses_vips(image, data, boxes=boxes, fit=fit, engine=engine):
            from core.imaging import vips_render

            rendered = vips_render.render(image, data, boxes=boxes, fit=fit, encodings=encodings,
                                          strip_metadata=strip_metadata, draft_gap=DRAFT_REDUCING_GAP,
                                          reuse_factor=REUSE_FACTOR)  # fmt: skip
            return rendered, size
        resized = _resize_with_pillow(image, boxes=boxes, fit=fit, max_pixels=max_pixels)
        # The thumbnails may still share pixels with ``image``: finished before the ``with`` closes it.
        return _finish_with_pillow(resized, encodings=encodings, strip_metadata=strip_metadata), size


def _finish_with_pillow(
    resized: Resized, *, encodings: Sequence[Encoding], strip_metadata: bool
) -> dict[tuple[Box, str], Thumbnail]:
    """The Pillow engine's last step: each thumbnail to sRGB and to each format's mode, then encoded."""
    to_srgb = colour.SrgbConverter(resized.icc_profile, resized.mode)
    exif_bytes = None if strip_metadata else encode.exif_for_output(resized.exif)
    rendered: dict[tuple[Box, str], Thumbnail] = {}
    for box, thumbnail in resized.thumbnails:
        prepared = colour.drop_opaque_alpha(to_srgb(thumbnail))  # once, whatever the number of formats
        for encoding in encodings:  # one resize, one encode per format
            final = colour.mode_for_format(prepared, encoding.format)
            keeps_profile = not strip_metadata and final.mode in ("RGB", "RGBA")
            body = encode.encode(
                final,
                encoding=encoding,
                exif=exif_bytes,
                icc_profile=to_srgb.output_profile if keeps_profile else None,
            )
            rendered[(box, encoding.format)] = Thumbnail(
                box=box,
                width=final.width,
                height=final.height,
                format=encoding.format,
                content_type=CONTENT_TYPES[encoding.format],
                body=body,
            )
    return rendered


def _resize_with_pillow(image: ImageFile.ImageFile, *, boxes: Sequence[Box], fit: Fit, max_pixels: int) -> Resized:
    """The Pillow engine: reduced decode, orientation, working mode, then the plan's resizes."""
    # The reduced decode needs the orientation first. PNG may keep its
    # EXIF after the pixel data, so it is read once decoded (PNG has no
    # reduced decode anyway).
    is_png = image.format == "PNG"
    planned_orientation = 1 if is_png else decode.orientation_of(decode.read_exif(image))
    source_size = decode.displayed_size(image, planned_orientation)
    draft_size = geometry.draft_request(
        source_size,
        boxes,
        fit,
        orientation=planned_orientation,
        reducing_gap=DRAFT_REDUCING_GAP,
    )
    decoded = decode.decode(image, draft_size=draft_size, max_pixels=max_pixels)
    # Read again: a decoder that rotated the pixels itself (Pillow's TIFF)
    # has removed the Orientation tag by now.
    exif = decode.read_exif(image)
    orientation = decode.orientation_of(exif)
    if is_png:
        source_size = geometry.displayed_size(image.size, orientation)
    base = colour.working_mode(decode.apply_orientation(decoded, orientation))
    images = [base]
    thumbnails = []
    focus = attention.focus_with_pillow(base) if fit is Fit.SMART else None
    steps = plan.plan_resizes(
        base.size, source_size=source_size, boxes=boxes, fit=fit, reuse_factor=REUSE_FACTOR, focus=focus
    )
    for step in steps:
        source = images[step.source]
        if not step.resizes:
            thumbnails.append((step.box, source))  # already the right pixels (e.g. contain, no upscale)
            continue
        resized = source.resize(
            step.size,
            Image.Resampling.LANCZOS,
            box=step.crop,
            # Only the decoded image can be many times too large; reducing first
            # by whole factors keeps LANCZOS cheap without visible loss.
            reducing_gap=RESIZE_REDUCING_GAP if step.source == plan.DECODED else None,
        )
        images.append(resized)
        thumbnails.append((step.box, resized))
    return Resized(
        thumbnails=thumbnails,
        mode=base.mode,
        exif=exif,
        icc_profile=image.info.get("icc_profile") or None,
    )
