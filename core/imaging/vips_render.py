"""The libvips engine's render: from the source bytes to the encoded thumbnails without leaving libvips.

One decode (shrunk while loading where the format allows), then the plan
both engines follow (:mod:`core.imaging.plan`), in the stored orientation:

1. each image resized from the decoded one is converted to sRGB right away
   (:class:`core.imaging.vips_colour.SrgbConverter`), so a smaller thumbnail
   derived from it needs no conversion of its own (the transform from each
   source profile is built once and kept, :mod:`core.imaging.icc_transforms`;
   applying it still costs ~15 ns a pixel);
2. each thumbnail's fully opaque alpha is dropped once, the thumbnail is turned
   upright, then, per format, brought to a mode the format holds and encoded
   with the chosen metadata (:mod:`core.imaging.vips_encode`).

Nothing is copied into Pillow: Pillow only opened the header (limits, EXIF,
ICC profile), exactly as for its own engine. Failures while decoding are
:class:`TruncatedImage` (or :class:`ImageTooLarge` when memory ran out);
failures while encoding are :class:`UnsupportedImage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import ImageFile

from core.errors import ImageTooLarge, TruncatedImage, UnsupportedImage
from core.imaging import attention, decode, encode, geometry, plan, vips_colour, vips_encode, vips_engine
from core.imaging.encoding import Encoding
from core.imaging.types import CONTENT_TYPES, Box, Fit, Thumbnail


def render(
    image: ImageFile.ImageFile,
    data: bytes,
    *,
    boxes: Sequence[Box],
    fit: Fit,
    encodings: Sequence[Encoding],
    strip_metadata: bool,
    draft_gap: float,
    reuse_factor: float,
) -> dict[tuple[Box, str], Thumbnail]:
    """Renders every box of ``data`` in every encoding with libvips.

    Args:
        image: ``data`` opened header-only by Pillow (limits already checked; see
            :func:`core.imaging.vips_engine.supports`).
        data: The source bytes.
        boxes: The boxes asked for.
        fit: How each box is filled.
        encodings: The formats, each with its quality and effort.
        strip_metadata: Write no EXIF/XMP/ICC; when False, the source EXIF with Orientation 1 and an
            sRGB profile, as the Pillow engine.
        draft_gap: Decode a JPEG reduced to this many times the largest output (WebP:
            :data:`core.imaging.vips_engine.WEBP_DRAFT_GAP`).
        reuse_factor: See :func:`core.imaging.plan.plan_resizes`.

    Returns:
        Each ``(box, format)``'s thumbnail.

    Raises:
        TruncatedImage: libvips could not decode the pixels.
        ImageTooLarge: Memory ran out.
        UnsupportedImage: An encoder refused a thumbnail.
    """
    vips = vips_engine.runtime()
    exif = decode.read_exif(image)
    orientation = decode.orientation_of(exif)
    to_srgb = vips_colour.SrgbConverter(vips, image.info.get("icc_profile") or None, vips_engine.working_mode(image))
    try:
        images, chosen = _resize(vips, image, data, boxes=boxes, fit=fit, orientation=orientation,
                                 draft_gap=draft_gap, reuse_factor=reuse_factor, to_srgb=to_srgb)  # fmt: skip
    except vips.Error as exc:
        raise _classified(exc, what=f"decoding a {image.width}x{image.height} image") from exc
    exif_bytes = None if strip_metadata else encode.exif_for_output(exif)
    kept_exif = {fmt: exif_bytes for fmt in ("jpeg", "png", "webp")}
    kept_exif["avif"] = encode.exif_without_orientation(exif_bytes) if exif_bytes else None
    profile = None if strip_metadata else to_srgb.output_profile()
    rendered: dict[tuple[Box, str], Thumbnail] = {}
    try:
        finished: dict[int, Any] = {}
        for box, index in chosen:
            if index not in finished:  # once per image, whatever the number of formats
                finished[index] = vips_colour.upright(vips_colour.drop_opaque_alpha(images[index]), orientation)
            for encoding in encodings:
                final = vips_colour.mode_for_format(finished[index], encoding.format)
                body = vips_encode.encode(vips, final, encoding=encoding, exif=kept_exif[encoding.format],
                                          icc_profile=profile if final.bands >= 3 else None)  # fmt: skip
                rendered[(box, encoding.format)] = Thumbnail(
                    box=box,
                    width=final.width,
                    height=final.height,
                    format=encoding.format,
                    content_type=CONTENT_TYPES[encoding.format],
                    body=body,
                )
    except vips.Error as exc:
        raise _classified(exc, what="encoding thumbnails", otherwise=UnsupportedImage) from exc
    return rendered


def _resize(
    vips: Any,
    image: ImageFile.ImageFile,
    data: bytes,
    *,
    boxes: Sequence[Box],
    fit: Fit,
    orientation: int,
    draft_gap: float,
    reuse_factor: float,
    to_srgb: vips_colour.SrgbConverter,
) -> tuple[dict[int, Any], list[tuple[Box, int]]]:
    """Decodes and resizes: the images of the plan (in memory, sRGB, stored orientation), and each box's."""
    stored = image.size
    fmt = decode.pillow_format(image)
    gap = vips_engine.WEBP_DRAFT_GAP if fmt == "WEBP" else draft_gap
    displayed = geometry.displayed_size(stored, orientation)
    request = geometry.draft_request(displayed, boxes, fit, orientation=orientation, reducing_gap=gap)
    decoded = vips_engine.to_eight_bits(vips_engine.load(vips, data, fmt, stored=stored, request=request))
    focus = None
    if fit is Fit.SMART:
        # The attention measure reads the decoded pixels once more: keep them in memory.
        decoded = decoded.copy_memory()
        focus = attention.focus_with_vips(decoded)
    steps = plan.plan_resizes(
        (decoded.width, decoded.height),
        source_size=stored,
        boxes=boxes,
        fit=fit,
        reuse_factor=reuse_factor,
        swap=orientation in geometry.SWAPPING_ORIENTATIONS,
        focus=focus,
    )
    reads = [step for step in steps if step.source == plan.DECODED]
    if len(reads) > 1 or any(not step.resizes for step in reads):
        # Read more than once, or encoded as it is: decode to memory once, here, where a truncated
        # source is a decoding error (a sequential load streams only once).
        decoded = decoded.copy_memory()
    images: dict[int, Any] = {plan.DECODED: decoded}
    chosen: list[tuple[Box, int]] = []
    for step in steps:
        index = step.source
        if step.resizes:
            resized = vips_engine.resize(images[index], step, from_decoded=index == plan.DECODED)
            index = len(images)
            # Converted once, here: everything derived from it later is already sRGB.
            images[index] = _in_srgb(resized, to_srgb) if step.source == plan.DECODED else resized
        chosen.append((step.box, index))
    if any(index == plan.DECODED for _, index in chosen):
        images[plan.DECODED] = _in_srgb(decoded, to_srgb)
    return images, chosen


def _in_srgb(image: Any, to_srgb: vips_colour.SrgbConverter) -> Any:
    converted = to_srgb(image)
    return image if converted is image else converted.copy_memory()


def _classified(exc: Exception, *, what: str, otherwise: type[Exception] = TruncatedImage) -> Exception:
    """The polythumb error for a libvips failure while ``what``."""
    if "out of memory" in str(exc).lower():
        return ImageTooLarge(f"ran out of memory {what}")
    if otherwise is TruncatedImage:
        return TruncatedImage(f"image data is truncated or corrupt: {vips_engine.first_line(exc)}")
    return otherwise(f"could not finish {what}: {vips_engine.first_line(exc)}")
