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
