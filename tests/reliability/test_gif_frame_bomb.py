"""The GIF frame bomb of issue 20: a 16x16 screen and first frame, then a frame of 8000x8000 (44 KB).

With ``animated = "keep"`` every check read the screen (and the first frame): 2 frames of 16x16 pass any
limit. Pillow then grows the canvas to 8000x8000 when it reaches the second frame and composes it, and
every later frame, at that size: about 1 GB of peak memory under a 24 Mpx limit, the same under the 200
Mpx default, from a 44 KB file (measured on the code before this test: 999 MB in both). Now each frame's
extent is read from its header before anything is composed: a canvas over ``THUMBS_MAX_PIXELS`` is
``too_large``; one over the animated share of it falls back to the first frame, a still.

Each measurement runs in a fresh process (:mod:`tests.reliability.rss_probe`), its peak resident memory
its own. A control shows the probe sees what composing such a frame costs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability.hostile_images import gif_frame_bomb
from tests.reliability.test_hostile_images import run_probe

#: Peak resident memory allowed for the whole probe process (Python, Pillow, polythumb: about 25 MB).
PEAK_RSS_LIMIT_MB = 100


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gif-frame-bomb")
    files = {
        "bomb": gif_frame_bomb(((16, 16), (8000, 8000))),
        "control": gif_frame_bomb(((16, 16), (2400, 2400))),  # 5.8 Mpx: kept animated under a 24 Mpx limit
    }
    for name, data in files.items():
        (folder / f"{name}.gif").write_bytes(data)
    return {name: folder / f"{name}.gif" for name in files}


def _measure(path: Path, max_pixels: int) -> dict[str, Any]:
    [result] = run_probe([path], engine="auto", max_pixels=max_pixels)
    return result


def test_the_bomb_is_small_and_passes_every_check_of_the_file_start(bombs: dict[str, Path]) -> None:
    data = bombs["bomb"].read_bytes()
    assert len(data) < 50_000
    assert data[6:10] == b"\x10\x00\x10\x00"  # the logical screen: 16x16


def test_under_a_24_mpx_limit_the_bomb_is_too_large_from_its_frame_header(bombs: dict[str, Path]) -> None:
    result = _measure(bombs["bomb"], 24_000_000)
    assert result["render_animated"] == "too_large", result
    assert (result["probe"], result["render"]) == ("ok", "ok"), result  # its first frame, as a still, is fine
    assert 0 < result["peak_rss_mb"] < PEAK_RSS_LIMIT_MB, result


def test_under_the_default_limit_the_bomb_is_a_still(bombs: dict[str, Path]) -> None:
    """64 Mpx is within 200 Mpx but over the quarter an animated canvas may hold: its first frame, a still."""
    result = _measure(bombs["bomb"], 200_000_000)
    assert result["render_animated"] == "ok", result
    assert 0 < result["peak_rss_mb"] < PEAK_RSS_LIMIT_MB, result


def test_the_probe_sees_what_composing_a_grown_frame_costs(bombs: dict[str, Path]) -> None:
    """Control: a 2400x2400 second frame within the limits is composed (and kept animated) at a visible cost."""
    bomb = _measure(bombs["bomb"], 24_000_000)
    control = _measure(bombs["control"], 24_000_000)
    assert control["render_animated"] == "ok", control
    assert control["peak_rss_mb"] > bomb["peak_rss_mb"] + 40, (control, bomb)
