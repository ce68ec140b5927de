"""Personal metadata never leaves in a thumbnail unless asked for, on every provider and locally.

Sources carry GPS position, camera serial, owner name, XMP, IPTC, a comment and an ICC profile. The
thumbnails are read back from the destination (the emulator, or the output directory) and searched, in
their bytes and through Pillow: by default nothing of that survives; with ``THUMBS_STRIP_METADATA=false``
the EXIF (GPS included: explicitly kept) comes along with Orientation reset, and XMP, IPTC and comments
still never do. Each case runs with both imaging engines (``THUMBS_ENGINE``): the libvips engine encodes in
libvips, with its own metadata handling.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from core.config import load_config
from core.imaging import vips_engine
from core.ops.runner import run_directory
from tests.images import gradient
from tests.rigs.base import FaultRig

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"

OWNER = "Jane Canary-Doe"
SERIAL = "SN-CANARY-0042"
COMMENT = b"private comment canary"
XMP_MARKER = b"http://ns.adobe.com/xap/1.0/"
IPTC_MARKER = b"Photoshop 3.0"
GPS_IFD = 0x8825


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "CanaryCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif[0x013B] = OWNER  # Artist
    exif[0x0112] = 6  # Orientation: stored sideways
    exif.get_ifd(0x8769)[0xA431] = SERIAL  # BodySerialNumber
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)  # Paris
    return exif


def rich_jpeg() -> bytes:
    buffer = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>' + OWNER.encode() + b"</dc:creator></x:xmpmeta>"
    gradient(320, 240).save(buffer, "JPEG", exif=_exif(), icc_profile=icc, comment=COMMENT, xmp=xmp)
    data = buffer.getvalue()
    record = b"\x1c\x02\x50\x00\x08" + OWNER[:8].encode()  # IPTC 2:80 By-line
    payload = IPTC_MARKER + b"\x00" + b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record
    iptc = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + iptc + data[2:]  # IPTC (APP13) right after SOI


def rich_png() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", OWNER)
    info.add_itxt("XML:com.adobe.xmp", XMP_MARKER.decode() + OWNER)
    buffer = io.BytesIO()
    gradient(200, 100, "RGBA").save(buffer, "PNG", pnginfo=info, exif=_exif())
    return buffer.getvalue()


SOURCES = {
    "private/iphone.jpg": ((CORPUS / "jpeg-gps-exif-iphone.jpg").read_bytes(), "image/jpeg"),
    "private/rich.jpg": (rich_jpeg(), "image/jpeg"),
    "private/rich.png": (rich_png(), "image/png"),
}


def png_chunks(data: bytes) -> set[bytes]:
    chunks, offset = set(), 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        chunks.add(kind)
        offset += 12 + length
    return chunks


def assert_nothing_personal(body: bytes) -> None:
    image = Image.open(io.BytesIO(body))
    assert len(image.getexif()) == 0, "EXIF survived"
    for marker in (b"Exif\x00\x00", XMP_MARKER, IPTC_MARKER, COMMENT, OWNER.encode(), SERIAL.encode(), b"ICC_PROFILE"):
        assert marker not in body, f"{marker!r} survived"
    if image.format == "PNG":
        assert not png_chunks(body) & {b"eXIf", b"tEXt", b"iTXt", b"zTXt", b"iCCP"}


def assert_exif_kept_but_nothing_else(body: bytes, *, had_gps: bool) -> None:
    image = Image.open(io.BytesIO(body))
    exif = image.getexif()
    assert len(exif) > 0, "THUMBS_STRIP_METADATA=false keeps the EXIF"
    assert exif.get(0x0112, 1) == 1, "the pixels are upright, so Orientation is reset"
    if had_gps:
        assert exif.get_ifd(GPS_IFD), "GPS is kept when metadata is explicitly kept"
    for marker in (XMP_MARKER, IPTC_MARKER, COMMENT):
        assert marker not in body, f"{marker!r} is never copied"


@pytest.fixture(params=["pillow", "vips"])
def engine(request: pytest.FixtureRequest) -> str:
    """THUMBS_ENGINE for the case: ``vips`` sends every JPEG and still PNG/WebP through libvips."""
    if request.param == "vips" and not vips_engine.available():
        pytest.skip("the libvips engine is optional: pip install 'polythumb[fast]'")
    return str(request.param)


def _outputs_of(rig: FaultRig, key: str) -> list[bytes]:
    objects = rig.dest_objects()
    return [objects[out].body for out in rig.expected_outputs(key)]


@pytest.mark.parametrize("keep", [False, True], ids=["default", "strip_false"])
def test_thumbnails_read_back_from_each_provider_carry_no_personal_metadata(
    rig: FaultRig, keep: bool, engine: str
) -> None:
    rig.configure(THUMBS_ENGINE=engine)
    if keep:
        rig.configure(THUMBS_STRIP_METADATA="false")
    for key, (body, content_type) in SOURCES.items():
        assert not rig.deliver(rig.upload(key, body, content_type)).retry
    for key in SOURCES:
        rig.assert_complete(key)
        for output in _outputs_of(rig, key):
            if keep:
                assert_exif_kept_but_nothing_else(output, had_gps=key.endswith(".jpg"))
            else:
                assert_nothing_personal(output)


@pytest.mark.parametrize("keep", [False, True], ids=["default", "strip_false"])
def test_thumbnails_written_locally_carry_no_personal_metadata(tmp_path: Path, keep: bool, engine: str) -> None:
    source, out = tmp_path / "photos", tmp_path / "thumbs"
    for key, (body, _) in SOURCES.items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(body)
    settings = {"THUMBS_DEST_BUCKET": str(out), "THUMBS_SIZES": "64x64,32x32", "THUMBS_ENGINE": engine}
    if keep:
        settings["THUMBS_STRIP_METADATA"] = "false"
    summary = run_directory(source, load_config(settings))
    assert (summary.ok, summary.failed) == (len(SOURCES), 0)
    outputs = [p for p in out.rglob("*") if p.is_file() and ".polythumb" not in p.parts]
    assert len(outputs) == 2 * len(SOURCES)
    for path in outputs:
        if keep:
            assert_exif_kept_but_nothing_else(path.read_bytes(), had_gps=path.suffix == ".jpg")
        else:
            assert_nothing_personal(path.read_bytes())


def test_the_sources_really_carry_what_must_be_stripped() -> None:
    """Control: without this, a test that finds no metadata in the outputs would prove nothing."""
    rich = SOURCES["private/rich.jpg"][0]
    for marker in (b"Exif\x00\x00", XMP_MARKER, IPTC_MARKER, COMMENT, b"ICC_PROFILE", SERIAL.encode()):
        assert marker in rich
    assert Image.open(io.BytesIO(rich)).getexif().get_ifd(GPS_IFD)
    assert Image.open(io.BytesIO(SOURCES["private/iphone.jpg"][0])).getexif().get_ifd(GPS_IFD)
    png = SOURCES["private/rich.png"][0]
    assert {b"eXIf", b"tEXt", b"iTXt"} <= png_chunks(png)
