"""What an engine (Pillow in :mod:`core.imaging.render`, libvips in :mod:`core.imaging.vips_engine`) hands back.

Its own module so the engines and the engine choice (:mod:`core.imaging.engine`) import it without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from core.imaging.types import Box


@dataclass(frozen=True)
class Resized:
    """What an engine hands back: the thumbnails before colour conversion and encoding.

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
