"""Pixel modes and colour management.

Decoded pixels are first brought to a mode that resizes well
(:func:`working_mode`): L, LA, RGB, RGBA, or CMYK kept for its ICC profile.
After downscaling, each thumbnail is converted to sRGB
(:class:`SrgbConverter`; converting small images is cheaper) and to a mode
the output format can hold (:func:`for_format`).
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageCms

#: Modes the resize step works in; CMYK is kept so its ICC profile applies.
WORKING_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_WHITE = 255
_SIXTEEN_BIT_MAX = 0xFFFF
# ICC colour-space signatures, as LittleCMS reports them, for each input mode.
_PROFILE_SPACE_FOR_MODE = {"RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK", "L": "GRAY", "LA": "GRAY"}


def working_mode(image: Image.Image) -> Image.Image:
    """Converts a decoded image to L, LA, RGB, RGBA or CMYK.

    Palette images become RGBA when transparent, else RGB; bilevel becomes
    L; 16-bit greys are divided by 256 (Pillow's own conversion clips them to
    white); 32-bit integer and float greys are mapped to 0-255; a tRNS colour
    key becomes a real alpha channel.
    """
    mode = image.mode
    transparent = image.has_transparency_data
    if mode in ("1", "L", "RGB") and transparent:
        # A tRNS colour key: Pillow promotes it to a real alpha channel.
        return image.convert("RGBA" if mode == "RGB" else "LA")
    if mode in WORKING_MODES:
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        has_rgba_palette = image.palette is not None and image.palette.mode == "RGBA"
        return image.convert("RGBA" if transparent or has_rgba_palette else "RGB")
    if mode == "La":
        return image.convert("LA")
    if mode == "RGBa":
        return image.convert("RGBA")
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return _deep_grey_to_l(image)
    # RGBX, YCbCr, LAB, HSV and the like.
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def _deep_grey_to_l(image: Image.Image) -> Image.Image:
    """Maps 16-bit, 32-bit integer and float greys to 8-bit L (or LA)."""
    samples = image if image.mode in ("I", "F") else image.convert("I")
    low, high = _band_range(samples)
    if image.mode in _SIXTEEN_BIT_MODES or (image.mode == "I" and low >= 0 and high <= _SIXTEEN_BIT_MAX):
        # 16-bit samples: keep the top byte, as viewers do. Not clipped:
        # Pillow's direct I;16 -> L conversion turns everything above 255 white.
        grey = samples.point(lambda value: value / 256)
    elif image.mode == "F" and low >= 0 and high <= 1:
        grey = samples.point(lambda value: value * _WHITE)  # normalised floats
    elif image.mode == "F" and low >= 0 and high <= _WHITE:
        grey = samples
    else:  # arbitrary range: stretch it, the only view that shows anything
        scale = _WHITE / ((high - low) or 1)
        grey = samples.point(lambda value: (value - low) * scale)
    grey = grey.convert("L")
    if image.has_transparency_data and image.mode in ("I", "I;16"):
        try:
            # Pillow promotes a 16-bit tRNS key to alpha in this conversion.
            alpha = image.convert("LA").getchannel("A")
        except ValueError:
            return grey
        grey.putalpha(alpha)
    return grey


def _band_range(image: Image.Image) -> tuple[float, float]:
    """The extrema of a single-band image."""
    low, high = image.getextrema()
    assert isinstance(low, int | float) and isinstance(high, int | float)
    return float(low), float(high)


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    description = ImageCms.getProfileDescription(profile) or ""
    return "srgb" in description.lower()


@functools.cache
def srgb_profile() -> ImageCms.ImageCmsProfile:
    """LittleCMS's built-in sRGB profile."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.cache
def srgb_profile_bytes() -> bytes:
    """The built-in sRGB profile, serialised for embedding."""
    return srgb_profile().tobytes()


#: What :func:`profile_verdict` says of a source's ICC profile.
CONVERT, SRGB, IGNORE = "convert", "srgb", "ignore"


@functools.lru_cache(maxsize=16)
def profile_verdict(icc_profile: bytes, mode: str) -> str:
    """What both engines do with a source's ICC profile, for a working ``mode`` (cheap: parses only).

    Returns:
        :data:`CONVERT` the pixels to sRGB; :data:`SRGB`, the profile already is sRGB (pixels as they
        are, profile kept when metadata is); :data:`IGNORE` a profile that does not parse or describes
        another colour space than ``mode``'s (pixels as they are, no profile written).
    """
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        space = profile.profile.xcolor_space.strip()
        if space != _PROFILE_SPACE_FOR_MODE.get(mode):
            return IGNORE
        return SRGB if _is_srgb(profile) else CONVERT
    except Exception:  # an unparsable or unsupported profile is ignored
        return IGNORE


@functools.lru_cache(maxsize=16)
def _transform_to_srgb(icc_profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """Builds (and caches: building costs 5-60 ms) Pillow's transform to sRGB; None when LittleCMS cannot."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        input_mode = "L" if mode == "LA" else mode
        output_mode = "RGBA" if mode == "RGBA" else "RGB"
        return ImageCms.buildTransform(
            profile,
            srgb_profile(),
            input_mode,
            output_mode,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            # Cached transforms may run on several threads at once; LittleCMS's
            # one-pixel cache inside a transform is not thread-safe.
            flags=ImageCms.Flags.NOCACHE,
        )
    except Exception:  # an unsupported profile is ignored
        return None


def output_profile(icc_profile: bytes | None, verdict: str, *, converted: bool) -> bytes | None:
    """The ICC profile a kept-metadata thumbnail embeds: our sRGB after a conversion, the source's own
    sRGB profile, else None (no profile, or one that was ignored)."""
    if converted:
        return srgb_profile_bytes()
    return icc_profile if verdict == SRGB else None


class SrgbConverter:
    """Converts working-mode thumbnails of one source to sRGB (the Pillow engine).

    Args:
        icc_profile: The source's embedded ICC profile, if any.
        mode: The working mode of the source (see :func:`working_mode`).
    """

    def __init__(self, icc_profile: bytes | None, mode: str) -> None:
        verdict = profile_verdict(icc_profile, mode) if icc_profile else IGNORE
        transform = _transform_to_srgb(icc_profile, mode) if icc_profile and verdict == CONVERT else None
        self._transform = transform
        #: Whether pixels are converted from a non-sRGB profile.
        self.converts = transform is not None
        #: ICC bytes describing the converted pixels, for callers that keep metadata (:func:`output_profile`).
        self.output_profile = output_profile(icc_profile, verdict, converted=self.converts)

    def __call__(self, image: Image.Image) -> Image.Image:
        """Returns ``image`` in sRGB: L, LA, RGB or RGBA."""
        if self._transform is None:
            return image.convert("RGB") if image.mode == "CMYK" else image
        alpha = image.getchannel("A") if image.mode == "LA" else None
        colour = image.convert("L") if alpha is not None else image
        converted = ImageCms.applyTransform(colour, self._transform)
        assert converted is not None  # applyTransform only returns None in place
        if image.mode in ("L", "LA"):
            # A grey profile maps to neutral sRGB greys; keep the single band.
            converted = converted.convert("L")
            if alpha is not None:
                converted.putalpha(alpha)
        return converted


def drop_opaque_alpha(image: Image.Image) -> Image.Image:
    """Removes an alpha channel that is fully opaque (smaller files)."""
    if image.mode in ("LA", "RGBA") and image.getchannel("A").getextrema() == (_WHITE, _WHITE):
        return image.convert(image.mode[:-1])
    return image


def flatten_on_white(image: Image.Image) -> Image.Image:
    """Composites an L/LA/RGB/RGBA image onto white, dropping alpha."""
    if image.mode not in ("LA", "RGBA"):
        return image
    background = Image.new(image.mode[:-1], image.size, "white")
    background.paste(image.convert(image.mode[:-1]), mask=image.getchannel("A"))
    return background


def for_format(image: Image.Image, output_format: str) -> Image.Image:
    """Converts an sRGB L/LA/RGB/RGBA image to a mode ``output_format`` holds.

    A fully opaque alpha channel is dropped (smaller files); JPEG has no alpha,
    so transparency is flattened onto white; WebP and AVIF hold only RGB(A);
    PNG takes all four.
    """
    return mode_for_format(drop_opaque_alpha(image), output_format)


def mode_for_format(image: Image.Image, output_format: str) -> Image.Image:
    """:func:`for_format` of an image whose opaque alpha is already dropped (one check per thumbnail,
    however many formats it is encoded in)."""
    if output_format == "jpeg":
        return flatten_on_white(image)
    if output_format in ("webp", "avif") and image.mode in ("L", "LA"):
        return image.convert("RGBA" if image.mode == "LA" else "RGB")
    return image
