"""The libvips engine's orientation, sRGB conversion and alpha: :mod:`core.imaging.colour`'s rules on pyvips images.

Every function takes and returns pyvips images (the engine imported pyvips;
nothing here imports it) in one of the working modes: 1 band (L), 2 (LA), 3
(RGB), 4 (RGBA, or CMYK when the interpretation says so), 8 bits a sample.
What is done with a source's ICC profile is decided once for both engines
(:func:`core.imaging.colour.profile_verdict`); this module only carries it out,
with a LittleCMS transform built once per profile and kept
(:mod:`core.imaging.icc_transforms`; libvips' ``icc_transform`` would build
one per call), and libvips' own conversion for grey sources.
"""

from __future__ import annotations

from typing import Any

from core.imaging import colour, icc_transforms

#: EXIF orientation -> the libvips operations that display the stored raster upright, in order: the
#: transposes the Pillow engine applies (:func:`core.imaging.decode.apply_orientation`). libvips turns
#: clockwise: d90 is Pillow's ROTATE_270.
_UPRIGHT: dict[int, tuple[tuple[str, str], ...]] = {
    2: (("flip", "horizontal"),),
    3: (("rot", "d180"),),
    4: (("flip", "vertical"),),
    5: (("rot", "d90"), ("flip", "horizontal")),  # transpose
    6: (("rot", "d90"),),
    7: (("rot", "d270"), ("flip", "horizontal")),  # transverse
    8: (("rot", "d270"),),
}
#: sRGB to grey as Pillow's ``convert("L")`` weighs it (ITU-R 601-2 luma).
_LUMA = [[0.299, 0.587, 0.114]]
_WHITE = 255


def upright(image: Any, orientation: int) -> Any:
    """``image`` as it displays once the EXIF ``orientation`` (1-8) is applied."""
    for operation, argument in _UPRIGHT.get(orientation, ()):
        image = getattr(image, operation)(argument)
    return image


def has_alpha(image: Any) -> bool:
    """Whether ``image`` (a working-mode image) carries an alpha band."""
    return image.bands in (2, 4) and image.interpretation != "cmyk"


class SrgbConverter:
    """Converts working-mode images of one source to sRGB in libvips, as :class:`core.imaging.colour.SrgbConverter`.

    Args:
        vips: The pyvips module.
        icc_profile: The source's embedded ICC profile, if any.
        mode: The source's working mode (``L``, ``LA``, ``RGB``, ``RGBA`` or ``CMYK``).
    """

    def __init__(self, vips: Any, icc_profile: bytes | None, mode: str) -> None:
        self._vips = vips
        self._icc = icc_profile
        self.verdict = colour.profile_verdict(icc_profile, mode) if icc_profile else colour.IGNORE
        self._transforms = self.verdict == colour.CONVERT
        #: Whether pixels were converted from a non-sRGB profile (known once the first image is).
        self.converted = False

    def output_profile(self) -> bytes | None:
        """The profile a kept-metadata RGB(A) thumbnail embeds (:func:`core.imaging.colour.output_profile`)."""
        return colour.output_profile(self._icc, self.verdict, converted=self.converted)

    def __call__(self, image: Any) -> Any:
        """``image`` in sRGB, 8 bits: L, LA, RGB or RGBA (lazy: the caller copies it to memory if reused)."""
        if self._transforms:
            converted = self._apply_profile(image)
            if converted is not None:
                self.converted = True
                return converted
            # LittleCMS cannot build a transform from it: ignored, as the Pillow engine ignores it.
            self._transforms = False
            self.verdict = colour.IGNORE
        if image.interpretation == "cmyk":
            return _naive_cmyk_to_rgb(image)
        return image

    def _apply_profile(self, image: Any) -> Any | None:
        """``image`` through the source profile to sRGB (perceptual, as Pillow's), or None if it cannot be."""
        assert self._icc is not None  # a CONVERT verdict comes from a profile
        transform = _kept_transform(self._icc, image)
        if transform is not None:
            converted = transform.apply(image.write_to_memory(), count=image.width * image.height)
            return self._vips.Image.new_from_memory(converted, image.width, image.height, transform.output_bands,
                                                    "uchar").copy(interpretation="srgb")  # fmt: skip
        # Grey sources, or no LittleCMS of Pillow's here: libvips builds its transform for this call.
        vips = self._vips
        tagged = image.copy()
        tagged.set_type(vips.GValue.blob_type, "icc-profile-data", self._icc)
        try:
            converted = tagged.icc_transform("srgb", embedded=True, intent="perceptual", depth=8)
        except vips.Error:
            return None
        grey = image.bands <= 2 and image.interpretation != "cmyk"
        if grey:
            # A grey profile maps to neutral sRGB greys; keep the single band (and the alpha).
            luma = (converted.extract_band(0, n=3).recomb(_LUMA) + 0.5).cast("uchar")
            converted = luma.bandjoin(converted.extract_band(3)) if converted.bands == 4 else luma
        return converted.cast("uchar").copy(interpretation="b-w" if grey else "srgb")


def _kept_transform(icc_profile: bytes, image: Any) -> icc_transforms.Transform | None:
    """The kept LittleCMS transform for ``image``'s layout (RGB, RGBA or CMYK, 8 bits), or None."""
    if image.format != "uchar" or image.bands < 3:
        return None
    layout = "CMYK" if image.interpretation == "cmyk" else "RGBA" if image.bands == 4 else "RGB"
    return icc_transforms.transform_to_srgb(icc_profile, layout)


def _naive_cmyk_to_rgb(image: Any) -> Any:
    """CMYK without a usable profile, as Pillow converts it: each of R, G, B = (255 - C) x (255 - K) / 255."""
    ink = image.extract_band(0, n=3)
    paper = 255 - image.extract_band(3)
    rgb = paper - (ink * paper / 255 + 0.5).cast("uchar")  # Pillow's rounding of C x (255 - K) / 255
    return rgb.cast("uchar").copy(interpretation="srgb")


def drop_opaque_alpha(image: Any) -> Any:
    """Removes an alpha band that is fully opaque (smaller files), as :func:`core.imaging.colour.drop_opaque_alpha`."""
    if has_alpha(image) and image.extract_band(image.bands - 1).min() == _WHITE:
        return image.extract_band(0, n=image.bands - 1)
    return image


def mode_for_format(image: Any, output_format: str) -> Any:
    """:func:`core.imaging.colour.mode_for_format` in libvips: JPEG flattened onto white, grey made RGB(A) for
    WebP and AVIF (the opaque alpha already dropped)."""
    if output_format == "jpeg":
        if has_alpha(image):
            interpretation = image.interpretation
            image = image.flatten(background=[_WHITE] * (image.bands - 1)).cast("uchar")
            image = image.copy(interpretation=interpretation)
        return image
    if output_format in ("webp", "avif") and image.bands <= 2:
        grey = image.extract_band(0)
        rgb = grey.bandjoin([grey, grey])
        if image.bands == 2:
            rgb = rgb.bandjoin(image.extract_band(1))
        return rgb.copy(interpretation="srgb")
    return image
