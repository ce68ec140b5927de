"""Opening and decoding a source, with every failure classified.

The limit on pixels is enforced on header information only: first on sizes
peeked from the raw bytes (:func:`core.imaging.sniff.declared_size`), then on
the size Pillow's lazy ``Image.open`` reports, and both before ``load()``.

Pillow's own decompression-bomb guard (a warning above
``Image.MAX_IMAGE_PIXELS``, an error above twice that, by default about 179 Mpx)
is not our mechanism: its default ceiling would refuse legitimate 200 Mpx phone
photos that ``THUMBS_MAX_PIXELS`` admits. So it is raised once, at import, to
fire above the largest limit any configuration can set
(:data:`core.imaging.types.MAX_PIXELS_CEILING`, 10 Gpx), and ``max_pixels``
decides. It stays on as a backstop: Pillow also runs it where a GIF frame grows
the canvas. Every path checks the declared size before any pixel is decoded:
raw-header sniffing for PNG, GIF, ICO (every entry, since Pillow decodes an ICO
entry while opening) and AVIF/HEIF, then the size the lazy ``Image.open``
reports, before ``load()``; an animation's frames are bounded from their own
headers (:func:`animation_canvas`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import warnings
from collections.abc import Iterator

from PIL import (
    AvifImagePlugin,  # noqa: F401 -- importing a plugin registers its opener
    BmpImagePlugin,  # noqa: F401
    GifImagePlugin,  # noqa: F401
    IcoImagePlugin,  # noqa: F401
    Image,
    ImageFile,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

from core.errors import ImageTooLarge, NotAnImage, TruncatedImage, UnsupportedImage
from core.imaging import geometry, sniff
from core.imaging.geometry import Size
from core.imaging.types import MAX_PIXELS_CEILING

#: Pillow formats we decode. Restricting ``Image.open`` to these keeps the
#: parsers of exotic formats (EPS runs Ghostscript) away from untrusted bytes.
READ_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP", "ICO")
_SUPPORTED_NAMES = "JPEG, PNG, GIF, WebP, AVIF, TIFF, BMP, ICO or HEIC/HEIF"
HEIF_EXTRA_HINT = "install the optional decoder with `pip install polythumb[heif]`"

_ORIENTATION_TAG = 0x0112
_IMAGE_WIDTH_TAG = 0x0100
_IMAGE_LENGTH_TAG = 0x0101
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Our limit, checked from headers before load(), decides; Pillow's errors only above any limit (see above).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS_CEILING // 2
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


@contextlib.contextmanager
def _pillow_bomb_warning_silenced() -> Iterator[None]:
    """Silences DecompressionBombWarning: ``max_pixels`` is the limit we apply.

    ``warnings.catch_warnings`` swaps process-wide state; concurrent threads
    may briefly see each other's filter, which at worst prints the warning.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


@functools.cache
def heif_opener_available() -> bool:
    """Registers pillow-heif's opener on first need; False if not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def check_pixels(size: Size, *, max_pixels: int, what: str = "image") -> None:
    """Raises ImageTooLarge when ``size`` has more than ``max_pixels`` pixels."""
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{what} is {width}x{height} ({width * height:,} pixels), "
            f"over the limit of {max_pixels:,} pixels; refused before decoding"
        )


def _bomb_error(exc: Image.DecompressionBombError, max_pixels: int) -> ImageTooLarge:
    match = _BOMB_PIXELS.search(str(exc))
    declared = f"{int(match.group(1)):,} pixels" if match else "too many pixels"
    return ImageTooLarge(
        f"image declares {declared}, over the limit of {max_pixels:,} pixels "
        "(or Pillow's hard ceiling); refused before decoding"
    )


def open_image(data: bytes, *, max_pixels: int) -> ImageFile.ImageFile:
    """Opens ``data`` header-only and enforces ``max_pixels``.

    Returns:
        A lazy Pillow image (pixels not decoded yet); close it when done.

    Raises:
        NotAnImage: Empty, or not in any format we read.
        UnsupportedImage: A recognised format we do not read (PSD, PDF, SVG,
            ...), or HEIC/HEIF without the ``polythumb[heif]`` extra.
        ImageTooLarge: More than ``max_pixels`` pixels.
        TruncatedImage: The format was recognised but its header is corrupt.
    """
    if not data:
        raise NotAnImage("empty input (0 bytes) is not an image")
    formats = list(READ_FORMATS)
    if sniff.looks_like_heif(data):
        if not heif_opener_available():
            raise UnsupportedImage(f"HEIC/HEIF images need pillow-heif: {HEIF_EXTRA_HINT}")
        formats.append("HEIF")
    declared = sniff.declared_size(data)
    if declared is not None:
        check_pixels(declared, max_pixels=max_pixels, what="image header declares a raster that")
    try:
        with _pillow_bomb_warning_silenced():
            image = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, max_pixels) from exc
    except UnidentifiedImageError as exc:
        name = sniff.unsupported_format_name(data)
        if name is not None:
            raise UnsupportedImage(f"{name} is not a supported source format ({_SUPPORTED_NAMES})") from exc
        raise NotAnImage(f"not a {_SUPPORTED_NAMES} image ({len(data):,} bytes starting {data[:8]!r})") from exc
    except MemoryError as exc:
        raise ImageTooLarge("ran out of memory reading the image header") from exc
    except Exception as exc:  # a plugin accepted the magic bytes, then choked
        raise TruncatedImage(f"corrupt or truncated image header: {exc}") from exc
    try:
        check_pixels(image.size, max_pixels=max_pixels)
    except ImageTooLarge:
        image.close()
        raise
    return image


def pillow_format(image: Image.Image) -> str:
    """The Pillow format name, e.g. "JPEG" (an MPO camera file counts as JPEG)."""
    name = image.format or "UNKNOWN"
    return "JPEG" if name == "MPO" else name


def read_exif(image: Image.Image) -> Image.Exif | None:
    """The parsed EXIF of ``image``, or None when absent or corrupt.

    Corrupt EXIF (bad TIFF header, truncated IFD, wrong value types) must not
    fail a render, so any parsing error just means "no EXIF".
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns "Corrupt EXIF data"
            if image.format == "PNG" and isinstance(image, ImageFile.ImageFile) and image.tile:
                # PngImageFile.getexif() decodes every pixel to look for an
                # eXIf chunk after the image data; the header chunks suffice
                # for a probe.
                exif = Image.Image.getexif(image)
            else:
                exif = image.getexif()
            # Iterating forces the lazy IFD parse, so corruption shows here.
            dict(exif)
    except Exception:
        return None
    return exif if len(exif) else None


def orientation_of(exif: Image.Exif | None) -> int:
    """The EXIF orientation (1-8); 1 when absent, corrupt or out of range."""
    if exif is None:
        return 1
    try:
        value = exif.get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return 1


def displayed_size(image: Image.Image, orientation: int) -> Size:
    """The size ``image`` shows at once ``orientation`` is applied, judged before loading.

    Pillow (13) reports a TIFF's size already rotated and rotates its pixels
    while loading; every other plugin reports the stored size.
    """
    if isinstance(image, TiffImagePlugin.TiffImageFile):
        stored = (image.tag_v2.get(_IMAGE_WIDTH_TAG), image.tag_v2.get(_IMAGE_LENGTH_TAG))
        if image.size != stored:
            return image.size
    return geometry.displayed_size(image.size, orientation)


def has_alpha(image: Image.Image) -> bool:
    """Whether ``image`` carries transparency, judged without decoding."""
    if image.has_transparency_data:
        return True
    palette = image.palette if image.mode in ("P", "PA") else None
    return palette is not None and palette.mode == "RGBA"


def frame_count(image: Image.Image) -> int:
    """Frames or pages in ``image``; 1 when the container cannot say."""
    try:
        count = getattr(image, "n_frames", 1)
    except Exception:  # a damaged later frame does not change the first one
        return 1
    return count if isinstance(count, int) and count > 0 else 1


def animation_canvas(image: Image.Image, data: bytes) -> Size:
    """The largest canvas any frame of ``image`` (opened header-only from ``data``) is composed on.

    A WebP animation declares its canvas and libwebp refuses a frame outside it: the size Pillow reports.
    A GIF's canvas grows when a frame extends past the logical screen (Pillow enlarges it to hold that
    frame, and composes every later frame at the larger size), so it is the screen grown by every frame's
    extent, read from the frame headers (:func:`core.imaging.sniff.gif_frame_extents`).
    """
    width, height = image.size
    if pillow_format(image) == "GIF":
        for _, _, right, bottom in sniff.gif_frame_extents(data) or ():
            width, height = max(width, right), max(height, bottom)
    return width, height


def decode(image: ImageFile.ImageFile, *, draft_size: Size | None, max_pixels: int) -> Image.Image:
    """Decodes the first frame, reduced towards ``draft_size`` where possible.

    ``draft_size`` is in stored orientation. JPEG reduces by 1/2, 1/4 or 1/8
    in the DCT and pillow-heif picks an embedded thumbnail; both stay at
    least as large as asked. Other formats decode at full size.

    Raises:
        TruncatedImage: The pixel data ends early or is corrupt.
        ImageTooLarge: Pillow's own guard fired, or memory ran out.
    """
    try:
        with _pillow_bomb_warning_silenced():
            if draft_size is not None:
                image.draft(None, draft_size)
            check_pixels(image.size, max_pixels=max_pixels)
            image.load()
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, max_pixels) from exc
    except MemoryError as exc:
        raise ImageTooLarge(f"ran out of memory decoding a {image.width}x{image.height} image") from exc
    except Exception as exc:
        raise TruncatedImage(f"image data is truncated or corrupt: {exc}") from exc
    return image


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """Returns ``image`` transposed so it displays upright (EXIF 1-8)."""
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return image if method is None else image.transpose(method)
