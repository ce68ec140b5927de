"""Hostile images, made byte by byte: bombs in every format, pathological metadata, endless animations.

Every builder returns the file's bytes. Bombs declare a raster far beyond any limit while the file stays
tiny (its pixels are never there); the others are valid images whose metadata or frame count is the
attack. Nothing here imports polythumb; Pillow is used only to produce small, valid parts.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from PIL import Image


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG declaring ``width`` x ``height`` grey pixels, with one tiny zlib stream for data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def gif_bomb_screen(width: int = 65_535, height: int = 65_535) -> bytes:
    """A GIF whose logical screen is huge and whose one frame is 1x1."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b"\x3b"


def gif_bomb_offset() -> bytes:
    """A GIF with a 1x1 screen and one 1x1 frame placed at (65534, 65534): the canvas grows to fit it."""
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 65_534, 65_534, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b"\x3b"


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) % 2 else b""
    return kind + struct.pack("<I", len(payload)) + payload + pad


def _tiny_webp_bitstream() -> tuple[bytes, bytes]:
    """The (chunk type, payload) of a 1x1 lossless WebP, cut out of a file Pillow writes."""
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (255, 0, 0, 255)).save(buffer, "WEBP", lossless=True)
    data = buffer.getvalue()
    offset = 12
    while offset < len(data):
        kind, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if kind in (b"VP8L", b"VP8 "):
            return kind, data[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size % 2)
    raise AssertionError("Pillow wrote a WebP without an image chunk")


def webp_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """An animated WebP whose canvas is ``width`` x ``height`` and whose one frame is 1x1."""
    kind, bitstream = _tiny_webp_bitstream()
    vp8x = struct.pack("<I", 0x02) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    anim = struct.pack("<IH", 0, 0)
    frame = (0).to_bytes(3, "little") * 2 + (0).to_bytes(3, "little") * 2 + (100).to_bytes(3, "little") + b"\x00"
    anmf = _riff_chunk(b"ANMF", frame + _riff_chunk(kind, bitstream))
    body = b"WEBP" + _riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ANIM", anim) + anmf
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A little-endian TIFF declaring ``width`` x ``height`` 8-bit grey pixels in one tiny strip."""
    entries = [
        (0x0100, 4, 1, width),  # ImageWidth (LONG)
        (0x0101, 4, 1, height),  # ImageLength
        (0x0102, 3, 1, 8),  # BitsPerSample
        (0x0103, 3, 1, 1),  # Compression: none
        (0x0106, 3, 1, 1),  # Photometric: black is zero
        (0x0111, 4, 1, 0),  # StripOffsets (patched below)
        (0x0115, 3, 1, 1),  # SamplesPerPixel
        (0x0116, 4, 1, height),  # RowsPerStrip
        (0x0117, 4, 1, 16),  # StripByteCounts
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        stored = strip_offset if tag == 0x0111 else value
        packed = struct.pack("<I", stored) if kind == 4 else struct.pack("<HH", stored, 0)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 16


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small valid baseline JPEG whose SOF is rewritten to declare ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def jpeg_bomb() -> bytes:
    """A JPEG declaring 65500 x 65500 pixels (the format's maximum is 65535 a side)."""
    return jpeg_with_size(65_500, 65_500)


# -- pathological metadata -------------------------------------------------------------------


def _jpeg_with_segments(segments: list[bytes], size: tuple[int, int] = (64, 48)) -> bytes:
    """A small valid JPEG with ``segments`` (complete APPn segments) inserted after SOI."""
    buffer = io.BytesIO()
    Image.new("RGB", size, "navy").save(buffer, "JPEG")
    data = buffer.getvalue()
    return data[:2] + b"".join(segments) + data[2:]


def _app(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _tiff_ifd(entries: list[tuple[int, int, int, bytes]], next_ifd: int) -> bytes:
    body = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
    return body + struct.pack("<I", next_ifd)


def exif_loops() -> bytes:
    """EXIF whose IFD0 points at itself as its next IFD and as its Exif, GPS and Interop sub-IFDs."""
    self_offset = struct.pack("<I", 8)
    entries = [
        (0x0112, 3, 1, struct.pack("<H", 6)),  # Orientation 6
        (0x8769, 4, 1, self_offset),  # ExifIFD -> IFD0
        (0x8825, 4, 1, self_offset),  # GPS IFD -> IFD0
        (0xA005, 4, 1, self_offset),  # Interop IFD -> IFD0
    ]
    tiff = b"II*\x00" + self_offset + _tiff_ifd(entries, next_ifd=8)
    return _jpeg_with_segments([_app(0xE1, b"Exif\x00\x00" + tiff)])


def exif_deeply_nested(depth: int = 2_000) -> bytes:
    """EXIF with a chain of ``depth`` Exif sub-IFDs, each pointing at the next (a recursion bomb)."""
    entry = 2 + 12 + 4
    chain = b""
    for index in range(depth):
        child = 8 + (index + 1) * entry if index + 1 < depth else 0
        chain += _tiff_ifd([(0x8769, 4, 1, struct.pack("<I", child))], next_ifd=0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + chain
    return _jpeg_with_segments([_app(0xE1, b"Exif\x00\x00" + tiff[:65_000])])


def exif_huge(entries: int = 5_400) -> bytes:
    """EXIF filling one whole APP1 segment (64 KB) with thousands of entries, plus more APP1 segments."""
    values = [(0x9000 + (i % 200), 7, 4, b"abcd") for i in range(entries)]
    tiff = b"II*\x00" + struct.pack("<I", 8) + _tiff_ifd(values, next_ifd=0)
    segment = _app(0xE1, b"Exif\x00\x00" + tiff[:65_000])
    return _jpeg_with_segments([segment] * 8)


def icc_huge(segments: int = 255) -> bytes:
    """An ICC "profile" of ~16 MB (the most JPEG can carry: 255 APP2 chunks of 65,519 bytes), all garbage."""
    chunk = b"\xa5" * 65_519
    parts = [_app(0xE2, b"ICC_PROFILE\x00" + bytes([index + 1, segments]) + chunk) for index in range(segments)]
    return _jpeg_with_segments(parts)


def png_icc_zlib_bomb() -> bytes:
    """A PNG whose iCCP chunk inflates to 64 MB (Pillow's own cap on one chunk is 1 MB)."""
    image = io.BytesIO()
    Image.new("RGB", (32, 32), "olive").save(image, "PNG")
    data = image.getvalue()
    compressor = zlib.compressobj(9)
    bomb = b"".join(compressor.compress(b"\x00" * 2**20) for _ in range(64)) + compressor.flush()
    iccp = _png_chunk(b"iCCP", b"bomb\x00\x00" + bomb)
    ihdr_end = 8 + 25
    return data[:ihdr_end] + iccp + data[ihdr_end:]


def png_text_bomb(chunks: int = 200) -> bytes:
    """A PNG with ``chunks`` zTXt chunks, each inflating to 1 MB (200 MB of text in all)."""
    image = io.BytesIO()
    Image.new("RGB", (32, 32), "maroon").save(image, "PNG")
    data = image.getvalue()
    text = zlib.compress(b"A" * 2**20, 9)
    ztxt = b"".join(_png_chunk(b"zTXt", f"k{i}".encode() + b"\x00\x00" + text) for i in range(chunks))
    ihdr_end = 8 + 25
    return data[:ihdr_end] + ztxt + data[ihdr_end:]


# -- endless animations ------------------------------------------------------------------------


def _frames(count: int, size: tuple[int, int]) -> list[Image.Image]:
    palette = [Image.new("P", size, index % 256) for index in range(min(count, 16))]
    return [palette[index % len(palette)] for index in range(count)]


def gif_many_frames(count: int = 5_000, size: tuple[int, int] = (32, 32)) -> bytes:
    """An animated GIF with ``count`` frames."""
    frames = _frames(count, size)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=10, loop=0, optimize=False)
    return buffer.getvalue()


def webp_many_frames(count: int = 3_000, size: tuple[int, int] = (32, 32)) -> bytes:
    """An animated WebP with ``count`` frames (each a different colour: the encoder merges equal ones)."""
    frames = [Image.new("RGB", size, (i % 256, (i * 7) % 256, (i // 256) * 16)) for i in range(count)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=10, lossless=True, method=0)
    return buffer.getvalue()


def _lzw_of_one_colour(pixels: int, min_code_size: int = 2) -> bytes:
    """GIF image data: ``pixels`` pixels of colour 0, LZW-coded as giflib codes it, in sub-blocks.

    One colour is LZW's best case: the n-th code stands for n pixels, so a 4096-entry table covers 8 M
    pixels in 6 KB, and the coder clears the table and starts again. A 64 Mpx frame is about 47 KB.
    """
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    bits = min_code_size + 1
    next_code, codes = end + 1, [(clear, bits)]
    run, left = 1, pixels
    while left:
        length = min(run, left)
        codes.append((0 if length == 1 else end + length - 1, bits))  # the code of a run of `length` zeros
        if next_code >= 1 << bits and bits < 12:
            bits += 1
        left -= length
        if not left:
            break
        if next_code >= 4095:  # table full: clear it, as giflib does
            codes.append((clear, bits))
            bits, next_code, run = min_code_size + 1, end + 1, 1
        else:
            next_code, run = next_code + 1, run + 1
    codes.append((end, bits))
    value = width = 0
    packed = bytearray()
    for code, size in codes:  # least significant bit first
        value |= code << width
        width += size
        while width >= 8:
            packed.append(value & 0xFF)
            value >>= 8
            width -= 8
    if width:
        packed.append(value & 0xFF)
    blocks = b"".join(bytes([len(packed[i : i + 255])]) + packed[i : i + 255] for i in range(0, len(packed), 255))
    return bytes([min_code_size]) + blocks + b"\x00"


def gif_frame_bomb(frames: tuple[tuple[int, int], ...] = ((16, 16), (8000, 8000))) -> bytes:
    """An animated GIF whose logical screen is 16x16 and whose frames have the sizes in ``frames``.

    The screen and the first frame pass every limit read from the file's start; Pillow grows the canvas
    to the largest frame only when it gets there, composing it (and every frame after) at that size.
    """
    screen = b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0x81, 0, 0) + bytes(range(12))  # 4 colours
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    body = b""
    for width, height in frames:
        control = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms, no disposal
        descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
        body += control + descriptor + _lzw_of_one_colour(width * height)
    return screen + loop + body + b"\x3b"


def webp_frame_bomb(size: int = 8000) -> bytes:
    """An animated WebP whose canvas is 16x16 and whose second frame is ``size`` x ``size`` (2.6 KB).

    The GIF frame bomb's WebP twin: libwebp's demuxer refuses a frame that does not fit the canvas, so
    nothing past the header is decoded (Pillow cannot even open it).
    """
    def vp8l(width: int, height: int) -> bytes:
        kind, bitstream = _tiny_webp_bitstream()
        if (width, height) == (1, 1):
            return _riff_chunk(kind, bitstream)
        buffer = io.BytesIO()
        Image.new("RGBA", (width, height), (10, 20, 30, 255)).save(buffer, "WEBP", lossless=True)
        data = buffer.getvalue()
        return data[12 : 12 + 8 + struct.unpack_from("<I", data, 16)[0]]

    def frame(width: int, height: int) -> bytes:
        header = bytes(6) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        return _riff_chunk(b"ANMF", header + (100).to_bytes(3, "little") + b"\x00" + vp8l(width, height))

    canvas = _riff_chunk(b"VP8X", bytes([0x12, 0, 0, 0]) + (15).to_bytes(3, "little") * 2)  # animated, alpha
    body = b"WEBP" + canvas + _riff_chunk(b"ANIM", bytes(6)) + frame(1, 1) + frame(size, size)
    return b"RIFF" + struct.pack("<I", len(body)) + body


#: name -> (builder, what must happen: "ok" = rendered, "too_large_animated" = its first frame rendered as
#: a still, refused when kept animated; an error kind ("too_large": refused by the pixel limit) = every
#: probe and render refused with it).
HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "png-bomb-100000x100000": (png_bomb, "too_large"),
    "gif-bomb-screen-65535x65535": (gif_bomb_screen, "too_large"),
    "gif-bomb-frame-offset": (gif_bomb_offset, "too_large"),
    "gif-bomb-16x16-then-8000x8000-frame": (gif_frame_bomb, "too_large_animated"),
    "webp-bomb-16x16-canvas-8000x8000-frame": (webp_frame_bomb, "truncated"),
    "webp-bomb-canvas-40000x40000": (webp_bomb, "too_large"),
    "webp-bomb-canvas-16384x16384": (lambda: webp_bomb(16_384, 16_384), "too_large"),
    "tiff-bomb-100000x100000": (tiff_bomb, "too_large"),
    "jpeg-bomb-65500x65500": (jpeg_bomb, "too_large"),
    "exif-self-referencing-ifds": (exif_loops, "ok"),
    "exif-2000-nested-sub-ifds": (exif_deeply_nested, "ok"),
    "exif-8x64KB-5400-entries": (exif_huge, "ok"),
    "icc-16MB-garbage": (icc_huge, "ok"),
    "png-iccp-zlib-bomb-64MB": (png_icc_zlib_bomb, "ok"),
    "png-ztxt-bomb-200MB": (png_text_bomb, "ok"),
    "gif-5000-frames": (gif_many_frames, "ok"),
    "webp-3000-frames": (webp_many_frames, "ok"),
}
