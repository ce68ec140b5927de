"""Encoding finished thumbnails, with exactly the metadata we choose.

Pillow copies ``info`` (EXIF, ICC, XMP, comments) from a source to every
image derived from it, and some savers write what they find there (AVIF
writes EXIF and XMP, PNG the ICC profile, JPEG the comment). So we encode a
copy with an empty ``info`` and pass metadata explicitly.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from core.errors import UnsupportedImage
from core.imaging.encoding import DEFAULT_QUALITY, Encoding

__all__ = ["DEFAULT_QUALITY", "encode", "exif_for_output"]

_PILLOW_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}
_ORIENTATION_TAG = 0x0112
#: IFD0 tags that describe the source raster or embed other metadata blocks
#: rather than being EXIF facts: a TIFF source's EXIF is its whole first IFD,
#: and copying strip offsets, sample layout or embedded XMP/IPTC/ICC into a
#: thumbnail would describe data that is not there (or leak what we strip).
_SOURCE_LAYOUT_TAGS = frozenset(
    {
        0x0100,  # ImageWidth
        0x0101,  # ImageLength
        0x0102,  # BitsPerSample
        0x0103,  # Compression
        0x0106,  # PhotometricInterpretation
        0x0111,  # StripOffsets
        0x0115,  # SamplesPerPixel
        0x0116,  # RowsPerStrip
        0x0117,  # StripByteCounts
        0x011C,  # PlanarConfiguration
        0x013D,  # Predictor
        0x0142,  # TileWidth
        0x0143,  # TileLength
        0x0144,  # TileOffsets
        0x0145,  # TileByteCounts
        0x0152,  # ExtraSamples
        0x0153,  # SampleFormat
        0x015B,  # JPEGTables
        0x0212,  # YCbCrSubSampling
        0x02BC,  # XMP
        0x83BB,  # IPTC
        0x8649,  # Photoshop resources
        0x8773,  # ICC profile
    }
)


def exif_for_output(exif: Image.Exif | None) -> bytes | None:
    """Serialises source EXIF for a thumbnail, with Orientation reset to 1.

    The pixels are already upright, so keeping the source orientation would
    rotate them twice. None when there is no EXIF or it cannot be re-encoded
    (corrupt values such as a string where a rational belongs).
    """
    if exif is None:
        return None
    try:
        for tag in _SOURCE_LAYOUT_TAGS & set(exif):
            del exif[tag]
        if _ORIENTATION_TAG in exif:
            exif[_ORIENTATION_TAG] = 1
        return exif.tobytes() if len(exif) else None
    except Exception:
        return None


def exif_without_orientation(exif: bytes) -> bytes | None:
    """``exif`` (from :func:`exif_for_output`) without its Orientation tag, None when nothing else is left.

    What an AVIF carries: Pillow's AVIF encoder moves Orientation into the container's own transform
    boxes (none for an upright image) and writes no EXIF that would be empty; the libvips engine does
    the same with this.
    """
    parsed = Image.Exif()
    parsed.load(exif)
    parsed.pop(_ORIENTATION_TAG, None)
    return parsed.tobytes() if len(parsed) else None


def _save_options(encoding: Encoding) -> dict[str, Any]:
    """Pillow's save options for ``encoding`` (the libvips engine's twin: :mod:`core.imaging.vips_encode`)."""
    if encoding.format == "png":
        # No ``optimize``: it retries every filter and costs several times the CPU for ~5%.
        return {"compress_level": encoding.chosen_effort}
    if encoding.format == "jpeg":
        return {"quality": encoding.chosen_quality, "optimize": True}
    if encoding.format == "avif":
        return {"quality": encoding.chosen_quality, "speed": 9 - encoding.chosen_effort}
    return {"quality": encoding.chosen_quality, "method": encoding.chosen_effort}


def encode(
    image: Image.Image,
    *,
    encoding: Encoding,
    exif: bytes | None,
    icc_profile: bytes | None,
) -> bytes:
    """Encodes ``image`` (already in a mode the format holds).

    Args:
        image: The finished thumbnail; it is not modified.
        encoding: The format, quality and effort.
        exif: EXIF bytes to embed, or None for none.
        icc_profile: ICC profile bytes to embed, or None for none.

    Raises:
        UnsupportedImage: The encoder refused the image.
    """
    output_format = encoding.format
    clean = image.copy()
    clean.info = {}  # write only the metadata passed in, see module docstring
    options = _save_options(encoding)
    metadata: dict[str, Any] = {}
    if exif:
        metadata["exif"] = exif
    if icc_profile:
        metadata["icc_profile"] = icc_profile
    try:
        return _save(clean, output_format, {**options, **metadata})
    except Exception as exc:
        if not metadata:
            raise UnsupportedImage(f"could not encode a {clean.mode} {output_format} thumbnail: {exc}") from exc
    # Metadata is optional (e.g. EXIF over JPEG's 64 KB segment limit fails):
    # a thumbnail without it beats no thumbnail.
    try:
        return _save(clean, output_format, options)
    except Exception as exc:
        raise UnsupportedImage(f"could not encode a {clean.mode} {output_format} thumbnail: {exc}") from exc


def _save(image: Image.Image, output_format: str, options: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=_PILLOW_FORMAT[output_format], **options)
    return buffer.getvalue()
