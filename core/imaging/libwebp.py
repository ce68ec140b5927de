"""A still WebP decoded scaled, by the libwebp Pillow loaded: the libvips engine's WebP decode.

libwebp scales while decoding (exact area averaging of the output rows; every
VP8 macroblock is still decoded at full size), which is what libvips'
``webpload`` asks of it too. Two things made libvips' loader the larger part of
a WebP thumbnail's cost, measured on a 12 MP WebP decoded to 1536x1152 (CPU,
one thread): the libwebp inside the pyvips (and sharp) binaries decodes the
same bitstream ~25% slower than the libwebp Pillow's wheel ships (~350 vs
~262 ms, identical pixels), and libvips decodes into an RGBA frame, paints it
onto an RGBA canvas and then copies rows without the alpha (two RGBA buffers
of the decoded size, ~14 MB there, on top of the copy the resize reads).

Here libwebp writes RGB (RGBA when the file has alpha) straight into the one
buffer the caller wraps as a pyvips image: the same pixels, byte for byte, as
``webpload`` at the same scale. The library is the one Pillow's WebP plugin
has already loaded (:mod:`core.imaging.loaded_libraries`); where it cannot be
found, or is not ABI-compatible (libwebp refuses a config of another major
ABI), :func:`available` is False and the engine keeps libvips' loader.
Nothing here imports pyvips.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from core.errors import ImageTooLarge, TruncatedImage
from core.imaging import loaded_libraries

#: WEBP_DECODER_ABI_VERSION of the structures below (libwebp 1.x); libwebp checks the major byte.
_DECODER_ABI = 0x0209
_MODE_RGB, _MODE_RGBA = 0, 1  # WEBP_CSP_MODE
_STATUS_OK, _STATUS_OUT_OF_MEMORY = 0, 1  # VP8StatusCode
_STATUS_NAMES = {2: "invalid parameter", 3: "bitstream error", 4: "unsupported feature", 5: "suspended",
                 6: "user abort", 7: "not enough data"}  # fmt: skip


class _Features(ctypes.Structure):  # WebPBitstreamFeatures
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("has_alpha", ctypes.c_int),
                ("has_animation", ctypes.c_int), ("format", ctypes.c_int), ("pad", ctypes.c_uint32 * 5)]  # fmt: skip


class _RGBABuffer(ctypes.Structure):  # WebPRGBABuffer
    _fields_ = [("rgba", ctypes.c_void_p), ("stride", ctypes.c_int), ("size", ctypes.c_size_t)]


class _YUVABuffer(ctypes.Structure):  # WebPYUVABuffer (only its size matters: it shares a union with RGBA)
    _fields_ = [*((name, ctypes.c_void_p) for name in ("y", "u", "v", "a")),
                *((name, ctypes.c_int) for name in ("y_stride", "u_stride", "v_stride", "a_stride")),
                *((name, ctypes.c_size_t) for name in ("y_size", "u_size", "v_size", "a_size"))]  # fmt: skip


class _Buffers(ctypes.Union):
    _fields_ = [("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer)]


class _DecBuffer(ctypes.Structure):  # WebPDecBuffer
    _fields_ = [("colorspace", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
                ("is_external_memory", ctypes.c_int), ("u", _Buffers), ("pad", ctypes.c_uint32 * 4),
                ("private_memory", ctypes.c_void_p)]  # fmt: skip


class _Options(ctypes.Structure):  # WebPDecoderOptions
    _fields_ = [*((name, ctypes.c_int) for name in (
        "bypass_filtering", "no_fancy_upsampling", "use_cropping", "crop_left", "crop_top", "crop_width",
        "crop_height", "use_scaling", "scaled_width", "scaled_height", "use_threads", "dithering_strength", "flip",
        "alpha_dithering_strength")), ("pad", ctypes.c_uint32 * 5)]  # fmt: skip


class _Config(ctypes.Structure):  # WebPDecoderConfig
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


@functools.cache
def _libwebp() -> Any | None:
    """Pillow's libwebp with the signatures declared, or None if it cannot be found or speaks another ABI."""
    try:
        from PIL import _webp  # noqa: F401 -- loads libwebp into this process
    except ImportError:  # a Pillow built without WebP
        return None
    path = loaded_libraries.loaded_library("libwebp-") or loaded_libraries.loaded_library("libwebp.")
    if path is None:
        return None
    try:
        library = ctypes.CDLL(path)
        library.WebPGetFeaturesInternal.restype = ctypes.c_int
        library.WebPGetFeaturesInternal.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Features),
                                                    ctypes.c_int]  # fmt: skip
        library.WebPInitDecoderConfigInternal.restype = ctypes.c_int
        library.WebPInitDecoderConfigInternal.argtypes = [ctypes.POINTER(_Config), ctypes.c_int]
        library.WebPDecode.restype = ctypes.c_int
        library.WebPDecode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Config)]
        library.WebPFreeDecBuffer.restype = None
        library.WebPFreeDecBuffer.argtypes = [ctypes.POINTER(_DecBuffer)]
    except (OSError, AttributeError):  # not loadable, or not libwebp's decoder
        return None
    if not library.WebPInitDecoderConfigInternal(ctypes.byref(_Config()), _DECODER_ABI):
        return None  # another major ABI: its structures may differ from the ones above
    return library


def available() -> bool:
    """Whether WebPs can be decoded here (Pillow's libwebp found, of a compatible ABI)."""
    return _libwebp() is not None


def features(data: bytes) -> tuple[int, int, bool, bool] | None:
    """``(width, height, has_alpha, animated)`` of the WebP in ``data``, or None if libwebp cannot read its header."""
    library = _libwebp()
    assert library is not None, "call available() first"
    found = _Features()
    if library.WebPGetFeaturesInternal(data, len(data), ctypes.byref(found), _DECODER_ABI) != _STATUS_OK:
        return None
    return found.width, found.height, bool(found.has_alpha), bool(found.has_animation)


def scaled_size(stored: tuple[int, int], scale: float) -> tuple[int, int]:
    """The size libvips' ``webpload`` gives at ``scale`` (each side rounded to nearest, at least 1)."""
    return max(1, round(stored[0] * scale)), max(1, round(stored[1] * scale))


def decode(data: bytes, *, stored: tuple[int, int], size: tuple[int, int], alpha: bool) -> bytearray:
    """The still WebP in ``data`` decoded to ``size`` (scaled while decoding), 8-bit RGB or RGBA rows.

    Args:
        data: A still (not animated) WebP, lossy or lossless.
        stored: Its stored size.
        size: The output size: ``stored``, or smaller (scaled while decoding).
        alpha: RGBA (alpha not premultiplied) rather than RGB.

    Raises:
        TruncatedImage: libwebp could not decode the pixels.
        ImageTooLarge: Memory ran out.
    """
    library = _libwebp()
    assert library is not None, "call available() first"
    width, height = size
    bands = 4 if alpha else 3
    try:
        pixels = bytearray(width * height * bands)
    except MemoryError as exc:
        raise ImageTooLarge(f"ran out of memory decoding a {width}x{height} WebP") from exc
    config = _Config()
    library.WebPInitDecoderConfigInternal(ctypes.byref(config), _DECODER_ABI)
    target = (ctypes.c_char * len(pixels)).from_buffer(pixels)
    try:
        config.output.colorspace = _MODE_RGBA if alpha else _MODE_RGB
        config.output.is_external_memory = 1
        config.output.u.RGBA.rgba = ctypes.addressof(target)
        config.output.u.RGBA.stride = width * bands
        config.output.u.RGBA.size = len(pixels)
        if size != stored:  # as webpload: at full size libwebp's own path (fancy chroma upsampling)
            config.options.use_scaling = 1
            config.options.scaled_width, config.options.scaled_height = width, height
        status = library.WebPDecode(data, len(data), ctypes.byref(config))
        library.WebPFreeDecBuffer(ctypes.byref(config.output))  # nothing to free with external memory; the API's rule
    finally:
        del target  # releases the buffer export, so the bytearray may be resized or freed later
    if status == _STATUS_OUT_OF_MEMORY:
        raise ImageTooLarge(f"ran out of memory decoding a {width}x{height} WebP")
    if status != _STATUS_OK:
        raise TruncatedImage(f"image data is truncated or corrupt: libwebp: {_STATUS_NAMES.get(status, status)}")
    return pixels
