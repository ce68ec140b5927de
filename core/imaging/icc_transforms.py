"""LittleCMS transforms to sRGB, built once per source profile and kept: the libvips engine's ICC conversion.

libvips builds a new LittleCMS transform in every ``icc_transform`` call and
keeps none (its operation cache is off, and would not help: every render has
new pixels), so each source with a profile paid the build again: 4-6 ms for a
matrix-shaper profile (Display P3, Adobe RGB), ~50 ms for a print CMYK one.
This module builds the transform the Pillow engine builds
(:func:`core.imaging.colour.SrgbConverter`: perceptual intent, to LittleCMS's
built-in sRGB, ``NOCACHE`` so one transform serves several threads at once),
with the LittleCMS library Pillow's ``ImageCms`` has already loaded, keeps
the last few, and runs them on packed 8-bit pixels. Both engines then convert
colour with the same library, transform and flags.

Where that library cannot be found (not Linux, a Pillow without LittleCMS),
:func:`transform_to_srgb` returns None and the caller keeps libvips' own
conversion. Nothing here imports pyvips.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from core.imaging import loaded_libraries

#: LittleCMS pixel formats (lcms2.h: COLORSPACE_SH(PT_x) | EXTRA_SH(e) | CHANNELS_SH(c) | BYTES_SH(1)).
_PT_RGB, _PT_CMYK = 4, 6
_TYPE_RGB_8 = (_PT_RGB << 16) | (3 << 3) | 1
_TYPE_RGBA_8 = (_PT_RGB << 16) | (1 << 7) | (3 << 3) | 1
_TYPE_CMYK_8 = (_PT_CMYK << 16) | (4 << 3) | 1
_INTENT_PERCEPTUAL = 0
#: No one-pixel cache inside the transform (it is shared between threads); alpha copied through, as Pillow does.
_FLAGS = 0x0040 | 0x04000000  # cmsFLAGS_NOCACHE | cmsFLAGS_COPY_ALPHA
#: Source layouts converted here -> (LittleCMS input format, input bands, output format, output bands). Grey sources are
#: left to libvips (they need their single band back, and are rare with a profile).
LAYOUTS = {
    "RGB": (_TYPE_RGB_8, 3, _TYPE_RGB_8, 3),
    "RGBA": (_TYPE_RGBA_8, 4, _TYPE_RGBA_8, 4),
    "CMYK": (_TYPE_CMYK_8, 4, _TYPE_RGB_8, 3),
}
#: Transforms kept: one per profile and layout. A matrix-shaper transform is a few KB, a CLUT one ~200 KB.
CACHED_TRANSFORMS = 8


class Transform:
    """A built LittleCMS transform from one source profile to sRGB; freed when dropped from the cache."""

    def __init__(self, library: Any, handle: int, *, input_bands: int, output_bands: int) -> None:
        self._library = library
        self._handle = handle
        self.input_bands = input_bands
        #: Bands of each converted pixel: 3 (RGB) or 4 (RGBA).
        self.output_bands = output_bands

    def apply(self, pixels: Any, *, count: int) -> bytearray:
        """``count`` packed pixels (a writable or read-only buffer of ``count`` x ``input_bands`` bytes),
        converted to sRGB."""
        if len(pixels) != count * self.input_bands:
            raise ValueError(f"expected {count} pixels of {self.input_bands} bytes, got {len(pixels)} bytes")
        converted = bytearray(count * self.output_bands)
        source = (ctypes.c_char * len(pixels)).from_buffer(pixels) if _writable(pixels) else bytes(pixels)
        self._library.cmsDoTransform(self._handle, source, (ctypes.c_char * len(converted)).from_buffer(converted),
                                     count)  # fmt: skip
        return converted

    def __del__(self) -> None:
        self._library.cmsDeleteTransform(self._handle)


def _writable(buffer: Any) -> bool:
    try:
        return not memoryview(buffer).readonly
    except TypeError:
        return False


@functools.cache
def _littlecms() -> Any | None:
    """The LittleCMS library Pillow's ImageCms loaded (its signatures declared), or None if it cannot be found."""
    try:
        from PIL import _imagingcms  # noqa: F401 -- loads LittleCMS into this process
    except ImportError:
        return None
    path = loaded_libraries.loaded_library("liblcms2")
    if path is None:
        return None
    try:
        library = ctypes.CDLL(path)
        library.cmsOpenProfileFromMem.restype = ctypes.c_void_p
        library.cmsOpenProfileFromMem.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
        library.cmsCreate_sRGBProfile.restype = ctypes.c_void_p
        library.cmsCreate_sRGBProfile.argtypes = []
        library.cmsCloseProfile.argtypes = [ctypes.c_void_p]
        library.cmsCreateTransform.restype = ctypes.c_void_p
        library.cmsCreateTransform.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32,
                                               ctypes.c_uint32, ctypes.c_uint32]  # fmt: skip
        library.cmsDoTransform.restype = None
        library.cmsDoTransform.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
        library.cmsDeleteTransform.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):  # not loadable, or not LittleCMS 2
        return None
    return library


def available() -> bool:
    """Whether transforms can be built here (Pillow's LittleCMS found)."""
    return _littlecms() is not None


@functools.lru_cache(maxsize=CACHED_TRANSFORMS)
def transform_to_srgb(icc_profile: bytes, layout: str) -> Transform | None:
    """The transform from ``icc_profile`` to sRGB for ``layout`` (a key of :data:`LAYOUTS`), built on first use.

    Returns None when LittleCMS is not available here or cannot build a transform from the profile.
    """
    library = _littlecms()
    if library is None or layout not in LAYOUTS:
        return None
    input_format, input_bands, output_format, output_bands = LAYOUTS[layout]
    source = library.cmsOpenProfileFromMem(icc_profile, len(icc_profile))
    if not source:
        return None
    srgb = library.cmsCreate_sRGBProfile()
    try:
        handle = library.cmsCreateTransform(source, input_format, srgb, output_format, _INTENT_PERCEPTUAL, _FLAGS)
    finally:
        library.cmsCloseProfile(source)
        library.cmsCloseProfile(srgb)
    if not handle:
        return None
    return Transform(library, handle, input_bands=input_bands, output_bands=output_bands)
