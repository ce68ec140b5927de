"""The libvips engine's encoders, with exactly the metadata chosen: :mod:`core.imaging.encode`'s rules in libvips.

A libvips image carries its source's metadata as fields (``exif-data`` and one
field per EXIF tag, ``orientation``, ``icc-profile-data``, ``xmp-data``,
``iptc-data``, PNG comments), and a saver writes what its ``keep`` flags admit,
rewriting the EXIF from those fields. So every metadata field is removed from
a copy first, then only what was chosen is set (EXIF already serialised with
Orientation 1, an sRGB profile) and named in ``keep``. Each format's settings
are the Pillow engine's (:mod:`core.imaging.encoding`): the same encoders
(libjpeg-turbo, libwebp, libavif's and libheif's aom, zlib) with the same
quality and effort give the same bytes for JPEG, WebP and AVIF; PNG differs
only in how rows are filtered (same pixels).
"""

from __future__ import annotations

from typing import Any

from core.errors import UnsupportedImage
from core.imaging.encoding import Encoding
from core.imaging.vips_engine import first_line

#: Header fields every image has; anything else an image carries is metadata.
_HEADER_FIELDS = frozenset(
    {"width", "height", "bands", "format", "coding", "interpretation", "xoffset", "yoffset", "xres", "yres"}
)
#: libpng's row filters, all tried per row (the adaptive choice Pillow's encoder makes for 8-bit images):
#: files as small as Pillow's, where no filter makes them a third larger.
_PNG_ALL_FILTERS = 0xF8


def encode(vips: Any, image: Any, *, encoding: Encoding, exif: bytes | None, icc_profile: bytes | None) -> bytes:
    """Encodes ``image`` (already in a mode the format holds) with only the metadata given.

    Args:
        vips: The pyvips module.
        image: The finished thumbnail; it is not modified.
        encoding: The format, quality and effort.
        exif: EXIF bytes to embed, or None for none.
        icc_profile: ICC profile bytes to embed, or None for none.

    Raises:
        UnsupportedImage: The encoder refused the image.
        vips.Error: libvips ran out of memory (the caller classifies it).
    """
    # Even with keep="none" a field acts: AVIF (HEIF) writes ``orientation`` into its irot/imir boxes,
    # which would turn the upright thumbnail again in every viewer.
    clean = _without_metadata(image)
    if not exif and not icc_profile:
        return _save_or_refuse(vips, clean, encoding, keep="none")
    keep = []
    if exif:
        clean.set_type(vips.GValue.blob_type, "exif-data", exif)
        keep.append("exif")
    if icc_profile:
        clean.set_type(vips.GValue.blob_type, "icc-profile-data", icc_profile)
        keep.append("icc")
    try:
        return _save(clean, encoding, keep="|".join(keep))
    except vips.Error as exc:
        if _out_of_memory(exc):
            raise
    # Metadata is optional (as in the Pillow engine): a thumbnail without it beats no thumbnail.
    return _save_or_refuse(vips, clean, encoding, keep="none")


def _save_or_refuse(vips: Any, image: Any, encoding: Encoding, *, keep: str) -> bytes:
    try:
        return _save(image, encoding, keep=keep)
    except vips.Error as exc:
        if _out_of_memory(exc):
            raise
        raise UnsupportedImage(f"could not encode a {image.bands}-band {encoding.format} thumbnail: "
                               f"{first_line(exc)}") from exc  # fmt: skip


def _out_of_memory(exc: Exception) -> bool:
    return "out of memory" in str(exc).lower()


def _without_metadata(image: Any) -> Any:
    """A copy of ``image`` (pixels shared) that carries no metadata field."""
    clean = image.copy()
    for name in clean.get_fields():
        if name not in _HEADER_FIELDS:
            clean.remove(name)
    return clean


def _save(image: Any, encoding: Encoding, *, keep: str) -> bytes:
    quality, effort = encoding.chosen_quality, encoding.chosen_effort
    body: bytes
    if encoding.format == "jpeg":
        # Chroma halved whatever the quality, as Pillow (libvips keeps it whole from Q 90 unless told).
        body = image.jpegsave_buffer(Q=quality, optimize_coding=True, subsample_mode="on", keep=keep)
    elif encoding.format == "webp":
        body = image.webpsave_buffer(Q=quality, effort=effort, keep=keep)
    elif encoding.format == "avif":
        body = image.heifsave_buffer(compression="av1", Q=quality, effort=effort, subsample_mode="on", bitdepth=8,
                                     keep=keep)  # fmt: skip
    else:
        body = image.pngsave_buffer(compression=effort, filter=_PNG_ALL_FILTERS, keep=keep)
    return body
