"""Byte-level peeks at a source, done before Pillow sees it.

Pillow's lazy ``Image.open`` reads only headers, but a few containers hide
the size of the raster that will actually be decoded: an ICO entry embeds a
PNG or BMP with its own header (and Pillow decodes that entry while
opening), a GIF frame may extend past the logical screen, and an AVIF/HEIF
image declares its size in an ``ispe`` property that libavif may refuse to
parse at all. :func:`declared_size` reads those sizes (and PNG's, which is
free) so the pixel limit is enforced before any decoder runs.

Nothing here imports Pillow, and nothing here trusts the bytes: every read is
bounds-checked and a malformed header simply yields ``None``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ICO_MAGIC = b"\x00\x00\x01\x00"
# Brands of HEIF files that need pillow-heif (HEVC and generic HEIF). AVIF
# files also list "mif1", so AVIF brands are excluded explicitly below.
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"} | {b"mif1", b"msf1", b"heif"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
# ICO directories are tiny; a count beyond this is garbage, not an icon.
_MAX_ICO_ENTRIES = 256

#: Formats we recognise but deliberately do not decode, by leading bytes.
_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"8BPS", "Photoshop PSD"),
    (b"%PDF", "PDF"),
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\xff\x0a", "JPEG XL"),
    (b"qoif", "QOI"),
)


def ftyp_brands(data: bytes) -> frozenset[bytes]:
    """Returns the major and compatible brands of an ISOBMFF ``ftyp`` box.

    Empty when ``data`` does not start with an ``ftyp`` box.
    """
    if len(data) < 16 or data[4:8] != b"ftyp":
        return frozenset()
    box_size = min(struct.unpack_from(">I", data, 0)[0], len(data))
    brands = {data[8:12]}
    # Bytes 12-16 are the minor version, then 4-byte compatible brands.
    for offset in range(16, box_size - 3, 4):
        brands.add(data[offset : offset + 4])
    return frozenset(brands)


def looks_like_heif(data: bytes) -> bool:
    """Whether ``data`` is a HEIF (HEIC) file that Pillow alone cannot read."""
    brands = ftyp_brands(data)
    return bool(brands & _HEIF_BRANDS) and not brands & _AVIF_BRANDS


def unsupported_format_name(data: bytes) -> str | None:
    """Names a recognised image format polythumb does not read, if any."""
    for magic, name in _UNSUPPORTED_MAGIC:
        if data.startswith(magic):
            return name
    head = data[:1024].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    return None


def declared_size(data: bytes) -> tuple[int, int] | None:
    """Returns the largest raster size the header of ``data`` declares.

    Understands PNG, GIF (logical screen grown by the first frame's extent),
    ICO (every entry's embedded PNG/BMP header) and ISOBMFF images such as
    AVIF and HEIF (every ``ispe`` property). ``None`` for other formats or
    when the header is too malformed to say.
    """
    try:
        if data.startswith(_PNG_MAGIC):
            return _png_size(data, 0)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _gif_size(data)
        if data.startswith(_ICO_MAGIC):
            return _ico_size(data)
        if ftyp_brands(data):
            return _isobmff_size(data)
    except (struct.error, IndexError):
        return None
    return None


def _png_size(data: bytes, offset: int) -> tuple[int, int] | None:
    if data[offset + 12 : offset + 16] != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", data, offset + 16)
    return width, height


def _gif_size(data: bytes) -> tuple[int, int]:
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    offset = 13
    if flags & 0x80:  # a global colour table follows the screen descriptor
        offset += 3 << ((flags & 0x07) + 1)
    while offset < len(data):
        block = data[offset]
        if block == 0x2C:  # image descriptor: the first frame
            left, top, frame_width, frame_height = struct.unpack_from("<HHHH", data, offset + 1)
            return max(width, left + frame_width), max(height, top + frame_height)
        if block != 0x21:  # not an extension either: stop looking
            break
        offset += 2  # introducer and label, then length-prefixed sub-blocks
        while offset < len(data):
            length = data[offset]
            offset += 1 + length
            if length == 0:
                break
    return width, height


def gif_frame_extents(data: bytes) -> list[tuple[int, int, int, int]] | None:
    """Every frame's extent ``(left, top, right, bottom)`` in a GIF, read from the image descriptors.

    None when ``data`` is not a GIF. Pillow grows the canvas of an animation to hold a frame that extends
    past the logical screen (``GifImageFile._seek``), so a 16x16 GIF may compose an 8000x8000 second frame;
    these extents say how large before any frame is decoded. The walk is Pillow's own (13.x), byte for byte
    (stray bytes skipped one at a time, an extension whose first sub-block is empty reading on as its
    sub-blocks), so it finds exactly the frames Pillow will compose; it stops where Pillow would fail.
    """
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        return None
    reader = _GifReader(data)
    extents: list[tuple[int, int, int, int]] = []
    try:
        while True:
            if extents:  # the previous frame's image data
                while reader.sub_block():
                    pass
            extent = reader.next_frame(first=not extents)
            if extent is None:
                return extents
            extents.append(extent)
    except (IndexError, struct.error):  # cut short where Pillow raises too: no frame past it is composed
        return extents


class _GifReader:
    """The block walk of Pillow's ``GifImageFile._seek`` over ``data``, without decoding anything."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        flags = data[10]
        self.offset = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the global colour table

    def read(self, size: int) -> bytes:
        chunk = self.data[self.offset : self.offset + size]
        self.offset += len(chunk)
        return chunk

    def sub_block(self) -> bytes | None:
        """``GifImageFile.data``: one length-prefixed sub-block; None at a terminator or the end."""
        size = self.read(1)
        return self.read(size[0]) if size and size[0] else None

    def next_frame(self, *, first: bool) -> tuple[int, int, int, int] | None:
        """The next image descriptor's extent, skipping extensions; None at the trailer or the end."""
        block = self.read(1)
        while True:
            if not block:
                block = self.read(1)
            if not block or block == b";":
                return None
            if block == b"!":
                label = self.read(1)[0]
                sub = self.sub_block()
                if label == 254:  # a comment: its sub-blocks, then the next block
                    while sub:
                        sub = self.sub_block()
                    block = b""
                    continue
                if label == 255 and first and sub is not None and sub.startswith(b"NETSCAPE2.0"):
                    self.sub_block()
                while self.sub_block():
                    pass
            elif block == b",":
                left, top, width, height, flags = struct.unpack("<HHHHB", self.read(9))
                if flags & 0x80:
                    self.read(3 << ((flags & 7) + 1))  # a local colour table
                self.read(1)[0]  # LZW minimum code size; the image data follows
                return left, top, left + width, top + height
            block = b""


def _ico_size(data: bytes) -> tuple[int, int] | None:
    (count,) = struct.unpack_from("<H", data, 4)
    largest: tuple[int, int] | None = None
    for index in range(min(count, _MAX_ICO_ENTRIES)):
        entry = 6 + 16 * index
        if entry + 16 > len(data):
            break
        # A 0 in the one-byte directory sizes means 256.
        size = (data[entry] or 256, data[entry + 1] or 256)
        (image_offset,) = struct.unpack_from("<I", data, entry + 12)
        if data[image_offset : image_offset + 8] == _PNG_MAGIC:
            size = _png_size(data, image_offset) or size
        elif image_offset + 12 <= len(data):
            width, height = struct.unpack_from("<ii", data, image_offset + 4)
            # A BMP entry's height counts the colour and the AND mask rows.
            size = (abs(width), abs(height) // 2)
        if largest is None or size[0] * size[1] > largest[0] * largest[1]:
            largest = size
    return largest


def _isobmff_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yields ``(type, payload_start, box_end)`` for boxes in ``data[start:end]``."""
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:  # a 64-bit size follows the type
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - offset
        if size < header:
            return
        # A box cut short by truncation is still worth reading up to the cut.
        yield kind, offset + header, min(offset + size, end)
        offset += size


def _nested_boxes(data: bytes, start: int, end: int, path: tuple[bytes, ...]) -> Iterator[tuple[int, int]]:
    """Yields ``(payload_start, box_end)`` of every box at ``path`` below ``start``."""
    wanted, rest = path[0], path[1:]
    for kind, payload_start, box_end in _isobmff_boxes(data, start, end):
        if kind != wanted:
            continue
        if not rest:
            yield payload_start, box_end
            continue
        # meta is a full box: 4 bytes of version and flags precede its children.
        children_start = payload_start + 4 if kind == b"meta" else payload_start
        yield from _nested_boxes(data, children_start, box_end, rest)


def _isobmff_size(data: bytes) -> tuple[int, int] | None:
    largest: tuple[int, int] | None = None
    path = (b"meta", b"iprp", b"ipco", b"ispe")
    for payload_start, _ in _nested_boxes(data, 0, len(data), path):
        # ispe is a full box too: version/flags, then 32-bit width and height.
        width, height = struct.unpack_from(">II", data, payload_start + 4)
        if largest is None or width * height > largest[0] * largest[1]:
            largest = (width, height)
    return largest


#: PNG chunks whose content Pillow folds into EXIF, orientation or the ICC
#: profile: an eXIf or iCCP chunk, or a text chunk with one of these keywords.
_PNG_METADATA_CHUNKS = frozenset({b"eXIf", b"iCCP"})
_PNG_TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_PNG_METADATA_KEYWORDS = frozenset({b"Raw profile type exif", b"XML:com.adobe.xmp"})


def png_header_tells_all(data: bytes) -> bool:
    """Whether a header-only open of this PNG sees all that a full decode would.

    True when the chunk list is complete (every chunk whole, up to IEND) and
    no eXIf, iCCP or EXIF/XMP text chunk follows the first IDAT: Pillow reads
    those only after decoding the pixels, and only a full decode reports a
    file cut short. Walks chunk lengths; nothing is inflated.
    """
    if not data.startswith(_PNG_MAGIC):
        return False
    offset, seen_pixels = len(_PNG_MAGIC), False
    while offset + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        payload = offset + 8
        if payload + length + 4 > len(data):
            return False  # cut short: the decoder must see it and report it
        if kind == b"IEND":
            return True
        if kind == b"IDAT":
            seen_pixels = True
        elif seen_pixels and (
            kind in _PNG_METADATA_CHUNKS
            or (kind in _PNG_TEXT_CHUNKS and data[payload : payload + 80].split(b"\0", 1)[0] in _PNG_METADATA_KEYWORDS)
        ):
            return False
        offset = payload + length + 4  # payload, then the CRC
    return False  # no IEND
