"""``animated = "keep"``: animated WebP thumbnails from the corpus' GIF and WebP animations, and their limits."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageSequence, ImageStat

from core.config import load_config
from core.events import ObjectEvent
from core.imaging.animation import frame_durations
from core.imaging.render import render_outputs
from core.imaging.types import Box, Fit
from core.outcome import Status
from core.pipeline import Thumbnailer
from core.storage import MemoryStorage

CORPUS = Path(__file__).parent / "data" / "corpus"
ANIMATED = ["gif-animated.gif", "gif-animated-dispose-bg.gif", "webp-animated.webp"]
BOXES = [Box(128, 128), Box(48, 48)]


def _render(data: bytes, **limits: float) -> tuple[list[bytes], tuple[str, ...]]:
    rendered = render_outputs(
        data,
        boxes=BOXES,
        fit=Fit.CONTAIN,
        encodings=[("webp", None), ("png", None)],
        strip_metadata=True,
        max_pixels=int(limits.pop("max_pixels", 10**9)),
        animated="keep",
        **limits,  # type: ignore[arg-type]
    )
    return [t.body for t in rendered.thumbnails], rendered.warnings


def _starts(durations: list[int]) -> list[int]:
    return [sum(durations[:index]) for index in range(len(durations))]


@pytest.mark.parametrize("name", ANIMATED)
def test_frames_durations_and_loop_count_are_kept(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    source_durations, source_loop = frame_durations(data)
    assert len(source_durations) > 1

    bodies, warnings = _render(data)

    assert warnings == ()
    big_webp, big_png, small_webp, small_png = bodies
    with Image.open(io.BytesIO(big_webp)) as image:
        assert image.format == "WEBP"
        assert getattr(image, "n_frames", 1) == len(source_durations)
        assert max(image.size) == min(128, max(Image.open(io.BytesIO(data)).size))  # contain never upscales
    assert frame_durations(big_webp) == (source_durations, source_loop)
    # libwebp merges consecutive frames that are identical once small (extending the first's duration):
    # the timeline is the same, every frame starts when its source frame starts.
    small_durations, small_loop = frame_durations(small_webp)
    assert small_loop == source_loop and sum(small_durations) == sum(source_durations)
    assert set(_starts(small_durations)) <= set(_starts(source_durations))
    with Image.open(io.BytesIO(small_webp)) as image:
        assert image.format == "WEBP" and max(image.size) == 48
    for body in (big_png, small_png):  # formats that cannot animate here get the first frame
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "PNG" and getattr(image, "n_frames", 1) == 1


def test_disposal_is_applied_frames_are_composited_pictures() -> None:
    """dispose_bgnd.gif clears to the background between frames: each output frame equals Pillow's composite."""
    data = (CORPUS / "gif-animated-dispose-bg.gif").read_bytes()
    (body, *_), _ = _render(data)
    with Image.open(io.BytesIO(data)) as source, Image.open(io.BytesIO(body)) as output:
        expected = [frame.convert("RGBA").resize(output.size) for frame in ImageSequence.Iterator(source)]
        produced = [frame.convert("RGBA") for frame in ImageSequence.Iterator(output)]
    assert len(produced) == len(expected) == 5

    def difference(a: Image.Image, b: Image.Image) -> float:
        return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 4

    for index, got in enumerate(produced):
        distances = [difference(want, got) for want in expected]
        assert distances[index] < 12  # lossy WebP, but the same picture (a wrong disposal leaves shapes behind)
        assert distances[index] == min(distances)  # and the frame that belongs at this time
    assert len({frame.tobytes() for frame in produced}) > 1  # it moves


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        ({"max_frames": 10}, "THUMBS_MAX_FRAMES=10"),
        ({"max_pixels": 245 * 245 * 10}, "THUMBS_MAX_PIXELS"),
        ({"max_duration": 1.0}, "THUMBS_MAX_DURATION"),
    ],
)
def test_over_a_limit_falls_back_to_the_first_frame_with_a_warning(limits: dict[str, float], reason: str) -> None:
    data = (CORPUS / "gif-animated.gif").read_bytes()  # 42 frames of 245x245, 2.69 s
    bodies, warnings = _render(data, **limits)
    assert len(warnings) == 1 and reason in warnings[0]
    for body in bodies:
        with Image.open(io.BytesIO(body)) as image:
            assert getattr(image, "n_frames", 1) == 1


def test_thumbnail_frames_count_against_the_pixel_limit_too() -> None:
    """A cover box enlarges small frames: 5 frames of 100x100 at 1000x1000 would hold 5 Mpx of thumbnails."""
    data = (CORPUS / "gif-animated-dispose-bg.gif").read_bytes()
    rendered = render_outputs(
        data,
        boxes=[Box(1000, 1000)],
        fit=Fit.COVER,
        encodings=[("webp", None)],
        strip_metadata=True,
        max_pixels=4_000_000,
        animated="keep",
    )
    assert "animated thumbnails would hold 5,000,000 pixels" in rendered.warnings[0]
    assert rendered.thumbnails[0].frames == 1


def test_within_the_limits_at_their_edge_the_animation_is_kept() -> None:
    data = (CORPUS / "gif-animated.gif").read_bytes()
    durations, _ = frame_durations(data)
    bodies, warnings = _render(
        data, max_frames=len(durations), max_pixels=245 * 245 * len(durations), max_duration=sum(durations) / 1000
    )
    assert warnings == ()
    with Image.open(io.BytesIO(bodies[0])) as image:
        assert getattr(image, "n_frames", 1) == 42


def test_pipeline_reports_the_fallback_in_the_outcome_and_never_fails() -> None:
    stores = {"src": MemoryStorage("src"), "dst": MemoryStorage("dst")}
    stores["src"].put("gifs/a.gif", (CORPUS / "gif-animated.gif").read_bytes(), content_type="image/gif")
    profiles = {"profiles": {"gifs": {"match": "gifs/*", "sizes": [64], "animated": "keep"}}}
    config = load_config(
        {"THUMBS_PROFILES": json.dumps(profiles), "THUMBS_DEST_BUCKET": "dst", "THUMBS_MAX_FRAMES": "5"}
    )
    outcome = Thumbnailer(config, stores.__getitem__).handle(ObjectEvent.created("src", "gifs/a.gif"))
    assert outcome.status is Status.OK
    assert [o.key for o in outcome.outputs] == ["gifs/a-64x64.webp"]  # the key does not depend on the fallback
    assert "THUMBS_MAX_FRAMES=5" in outcome.warnings[0]
    assert outcome.to_dict()["warnings"] == list(outcome.warnings)
    assert outcome.outputs[0].frames is None

    config = load_config({"THUMBS_PROFILES": json.dumps(profiles), "THUMBS_DEST_BUCKET": "dst"})
    stores["dst"] = MemoryStorage("dst")
    outcome = Thumbnailer(config, stores.__getitem__).handle(ObjectEvent.created("src", "gifs/a.gif"))
    assert outcome.warnings == ()
    assert outcome.outputs[0].frames == 42


def test_polythumb_run_prints_the_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.ops.cli import main

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.gif").write_bytes((CORPUS / "gif-animated.gif").read_bytes())
    monkeypatch.setenv("THUMBS_PROFILES", json.dumps({"profiles": {"all": {"match": "*", "animated": "keep"}}}))
    status = main(["run", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--workers", "1", "--max-frames", "3"])
    assert status == 0
    assert "warning: a.gif: animation has 42 frames, over THUMBS_MAX_FRAMES=3" in capsys.readouterr().err
    assert (tmp_path / "out" / "a-256x256.webp").exists()


def test_an_outcome_with_a_warning_is_logged_at_warning_level(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from core.logs import log_outcome
    from core.outcome import Outcome

    logger = logging.getLogger("polythumb-test-warnings")
    event = ObjectEvent.created("src", "gifs/a.gif")
    with caplog.at_level(logging.INFO, logger=logger.name):
        log_outcome(logger, Outcome(kind=event.kind, bucket="src", key="gifs/a.gif", status=Status.OK))
        log_outcome(
            logger,
            Outcome(kind=event.kind, bucket="src", key="gifs/a.gif", status=Status.OK, warnings=("over a limit",)),
        )
    assert [record.levelname for record in caplog.records] == ["INFO", "WARNING"]
    assert caplog.records[1].fields["warnings"] == ["over a limit"]  # type: ignore[attr-defined]


# -- frames larger than the image declares (a GIF's canvas grows) -------------------------------------


def _grown_gif(*sizes: tuple[int, int]) -> bytes:
    from tests.reliability.hostile_images import gif_frame_bomb

    return gif_frame_bomb(sizes)


def test_the_frame_headers_say_how_far_pillow_grows_a_gif_canvas() -> None:
    """What the frame headers read agrees with Pillow: a 16x16 screen is composed at 80x60 from frame 2."""
    from core.imaging import decode

    data = _grown_gif((16, 16), (80, 60), (20, 20))
    with decode.open_image(data, max_pixels=10**6) as image:
        assert image.size == (16, 16)
        assert decode.animation_canvas(image, data) == (80, 60)
    with Image.open(io.BytesIO(data)) as image:
        sizes = [frame.size for frame in ImageSequence.Iterator(image)]
    assert sizes == [(16, 16), (80, 60), (80, 60)]


def test_a_frame_that_grows_the_canvas_over_the_pixel_limit_is_too_large_before_it_is_decoded() -> None:
    from core.errors import ImageTooLarge

    data = _grown_gif((16, 16), (3000, 3000))  # 9 Mpx from a 7 KB file with a 16x16 screen
    with pytest.raises(ImageTooLarge, match="3000x3000"):
        _render(data, max_pixels=5_000_000)
    # Rendered as a still (animated = "first"), the same file is fine: its frame 1 is never composed.
    still = render_outputs(data, boxes=BOXES, fit=Fit.CONTAIN, encodings=[("webp", None)], strip_metadata=True,
                           max_pixels=5_000_000)  # fmt: skip
    assert [(t.width, t.height, t.frames) for t in still.thumbnails] == [(16, 16, 1), (16, 16, 1)]


def test_an_animated_canvas_over_its_share_of_the_limit_falls_back_to_a_still() -> None:
    data = _grown_gif((16, 16), (1000, 1000))  # 1 Mpx: within the limit, over a quarter of it
    bodies, warnings = _render(data, max_pixels=3_000_000)
    assert len(warnings) == 1 and "1000x1000, over 1/4 of THUMBS_MAX_PIXELS" in warnings[0]
    with Image.open(io.BytesIO(bodies[0])) as image:
        assert (getattr(image, "n_frames", 1), image.size) == (1, (16, 16))


def test_frames_composed_before_the_canvas_grew_are_placed_on_the_grown_canvas() -> None:
    data = _grown_gif((16, 16), (80, 60))
    bodies, warnings = _render(data, max_pixels=10**6)
    assert warnings == ()
    with Image.open(io.BytesIO(bodies[0])) as image:
        assert (image.n_frames, image.size) == (2, (80, 60))
        frames = [frame.convert("RGBA") for frame in ImageSequence.Iterator(image)]
    assert frames[0].getpixel((70, 50))[3] == 0  # outside the first frame: transparent, as Pillow grows it
    assert frames[0].getpixel((5, 5))[3] == 255


def test_a_frame_larger_than_its_header_said_is_refused_before_it_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second line: if the headers were misread, the composed size is checked before load()."""
    from core.errors import ImageTooLarge
    from core.imaging import decode

    monkeypatch.setattr(decode, "animation_canvas", lambda image, data: image.size)  # as the code before
    loads: list[tuple[int, int]] = []
    original = Image.Image.convert

    def convert(self: Image.Image, *args: object, **kwargs: object) -> Image.Image:
        loads.append(self.size)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "convert", convert)
    with pytest.raises(ImageTooLarge, match="frame 2 is 900x900, larger than its headers said"):
        _render(_grown_gif((16, 16), (900, 900)), max_pixels=10**7)
    assert (900, 900) not in loads


def _odd_gifs(seed: int, count: int) -> list[bytes]:
    """GIFs built from random runs of blocks, the odd ones included: stray bytes between blocks, comments,
    an extension whose first sub-block is empty (Pillow then reads on, taking the next bytes as its
    sub-blocks), local colour tables, frames placed anywhere, a missing trailer."""
    import random
    import struct

    from tests.reliability.hostile_images import _lzw_of_one_colour

    chooser = random.Random(seed)

    def frame() -> bytes:
        left, top = chooser.randint(0, 40), chooser.randint(0, 40)
        width, height = chooser.randint(1, 40), chooser.randint(1, 40)
        local = chooser.random() < 0.3
        flags = 0x81 if local else 0
        return (b"\x2c" + struct.pack("<HHHHB", left, top, width, height, flags) + (bytes(12) if local else b"")
                + _lzw_of_one_colour(width * height))  # fmt: skip

    blocks = [
        frame,
        lambda: b"\x21\xf9\x04\x00\x05\x00\x00\x00",  # graphic control
        lambda: b"\x21\xfe\x03abc\x02de\x00",  # comment
        lambda: b"\x21" + bytes([chooser.choice([0xF9, 0x01, 0xFF, 0x42])]) + b"\x00",  # empty first sub-block
        lambda: b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00",
        lambda: bytes([chooser.choice([0x00, 0x01, 0x07, 0x2B, 0x80, 0xFF])]),  # a stray byte
    ]
    out = []
    for _ in range(count):
        body = b"".join(chooser.choice(blocks)() for _ in range(chooser.randint(2, 9)))
        trailer = b"\x3b" if chooser.random() < 0.8 else b""
        screen = b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0x81, 0, 0) + bytes(range(12))
        out.append(screen + frame() + body + trailer)
    return out


def test_the_frame_header_walk_finds_exactly_the_frames_pillow_composes() -> None:
    """On 300 odd GIFs: every frame Pillow composes has the extent the walk read, and no other."""
    from core.imaging.sniff import gif_frame_extents

    counts = set()
    for data in _odd_gifs(seed=20, count=300):
        extents = gif_frame_extents(data)
        assert extents is not None
        seen = []
        with Image.open(io.BytesIO(data)) as image:
            try:
                for index in range(len(extents) + 1):
                    image.seek(index)
                    seen.append(image.dispose_extent)
            except EOFError:
                pass
        assert seen == extents, (seen, extents, data)
        counts.add(len(seen))
    assert len(counts) > 4  # from one frame to many


def test_a_webp_frame_larger_than_its_canvas_is_refused_by_libwebp_before_any_decode() -> None:
    """WebP's twin of the GIF frame bomb: libwebp's demuxer refuses a frame that does not fit the canvas."""
    from core.errors import TruncatedImage
    from tests.reliability.hostile_images import webp_frame_bomb

    fits = _render(webp_frame_bomb(8), max_pixels=10**6)  # the same file with a frame that fits: animated
    with Image.open(io.BytesIO(fits[0][0])) as image:
        assert (image.n_frames, image.size) == (2, (16, 16))
    with pytest.raises(TruncatedImage):
        _render(webp_frame_bomb(8000), max_pixels=10**9)
