"""What the Pillow engine's decode and resize (:mod:`core.imaging.render`) hand to its colour and encode steps.

(The libvips engine keeps its thumbnails in libvips to the end: :mod:`core.imaging.vips_render`.)
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from core.imaging.types import Box


@dataclass(frozen=True)
class Resized:
    """The Pillow engine's thumbnails before colour conversion and encoding.

    Attributes:
        thumbnails: ``(box, image)`` for each distinct box, largest first;
            the images are upright, in the working mode ``mode``.
        mode: The working mode (see :func:`core.imaging.colour.working_mode`).
        exif: The source EXIF, if any and parsable.
        icc_profile: The source's embedded ICC profile, if any.
    """

    thumbnails: list[tuple[Box, Image.Image]]
    mode: str
    exif: Image.Exif | None
    icc_profile: bytes | None
