"""Value types of the imaging engine, importable without Pillow.

The configuration code imports this module at cold start, so it must stay
free of Pillow (``import core.imaging.types`` leaves ``PIL`` out of
``sys.modules``); only :mod:`core.imaging.render` and its helpers load Pillow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

#: Output formats polythumb writes; the caller resolves "auto" to one of these.
FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "avif")

CONTENT_TYPES: dict[str, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
}

#: File-name extension (without the dot) for each output format.
EXTENSIONS: dict[str, str] = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "avif": "avif",
}

#: The longest side each format's encoder (Pillow's) writes, measured with Pillow 13: libwebp refuses
#: 16384 ("Image size exceeds WebP limit of 16383 pixels"); libjpeg stops at 65500; libavif (AV1) at
#: 65536; PNG at 2**31 - 1. Box edges above the one of a format it writes are refused at start.
MAX_ENCODED_EDGE: dict[str, int] = {
    "jpeg": 65_500,
    "png": 2**31 - 1,
    "webp": 16_383,
    "avif": 65_536,
}

#: The largest THUMBS_MAX_PIXELS accepted (10 Gpx). Pillow's own decompression-bomb error is set to fire
#: above it (:mod:`core.imaging.decode`): a backstop no configuration can reach.
MAX_PIXELS_CEILING = 10**10

#: Imaging engines (THUMBS_ENGINE): ``auto`` picks per source, ``pillow`` always, ``vips`` wherever it decodes.
ENGINES: tuple[str, ...] = ("auto", "pillow", "vips")
FAST_EXTRA_HINT = "install the optional engine with `pip install 'polythumb[fast]'`"

_BOX_TEXT = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")


class Fit(StrEnum):
    """How a source is fitted into a requested :class:`Box`."""

    #: Scale to fit inside the box, keeping the aspect ratio; never upscale.
    CONTAIN = "contain"
    #: Fill the box exactly, cropping the overflow around the centre.
    COVER = "cover"
    #: Fill the box exactly, cropping around the most salient region (edges, skin tones, saturation).
    SMART = "smart"


@dataclass(frozen=True, order=True)
class Box:
    """A requested bounding box in pixels, for example ``Box(128, 128)``.

    Raises:
        ValueError: If a side is not a positive integer.
    """

    width: int
    height: int

    def __post_init__(self) -> None:
        for side in (self.width, self.height):
            # bool is an int subclass; Box(True, 1) is a bug, not a 1x1 box.
            if not isinstance(side, int) or isinstance(side, bool) or side < 1:
                raise ValueError(f"box sides must be positive integers, got {self.width!r}x{self.height!r}")

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    @classmethod
    def parse(cls, text: str) -> Box:
        """Parses ``"WIDTHxHEIGHT"`` (as written by ``str(box)``).

        Raises:
            ValueError: If ``text`` is not two positive integers joined by ``x``.
        """
        match = _BOX_TEXT.fullmatch(text)
        if match is None:
            raise ValueError(f"not a box (expected WIDTHxHEIGHT such as 128x128): {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Thumbnail:
    """One encoded thumbnail.

    Attributes:
        box: The box it was rendered for.
        width: Actual pixel width (at most ``box.width`` for contain).
        height: Actual pixel height.
        format: One of :data:`FORMATS`.
        content_type: The MIME type of ``body``.
        body: The encoded bytes.
        frames: Frames in ``body`` (above 1 for an animated thumbnail).
    """

    box: Box
    width: int
    height: int
    format: str
    content_type: str
    body: bytes
    frames: int = 1


@dataclass(frozen=True)
class Rendered:
    """What one render of a source produced.

    Attributes:
        thumbnails: One per (box, format) asked for, boxes in the order given, formats within each box.
        warnings: Why a requested behaviour was not applied (an animation over a limit rendered as a
            still); never an error.
        source_size: The source's ``(width, height)`` as stored (one frame), from its header; None if unknown.
    """

    thumbnails: list[Thumbnail]
    warnings: tuple[str, ...] = ()
    source_size: tuple[int, int] | None = None

    @property
    def source_megapixels(self) -> float | None:
        """The source's pixels in millions (one frame), where known: what the ``polythumb.source.megapixels``
        metric reports."""
        if self.source_size is None:
            return None
        width, height = self.source_size
        return round(width * height / 1_000_000, 3)


@dataclass(frozen=True)
class SourceProbe:
    """What the header of a source image says, read without decoding pixels.

    Attributes:
        format: Lower-case source format ("jpeg", "png", "gif", "webp", "avif",
            "tiff", "bmp", "ico", "heif"); an MPO camera file reports "jpeg".
        width: Displayed width, after applying the EXIF orientation.
        height: Displayed height, after applying the EXIF orientation.
        mode: Pillow mode of the stored pixels ("RGB", "P", "I;16", ...).
        frames: Frame or page count (1 for still images).
        has_alpha: Whether the source carries transparency (alpha channel or a
            transparent palette/colour key).
    """

    format: str
    width: int
    height: int
    mode: str
    frames: int
    has_alpha: bool
