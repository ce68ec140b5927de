"""The runaway detector on every cloud, over the log lines each platform's function really writes.

Each scenario runs through a cloud's real entrypoint (on its emulator), and the cloud's own alert definitions
(CloudWatch Contributor Insights rules and alarm metric math, Log Analytics SQL, KQL), read off its generated
``observability.tf`` with the variables' defaults, are evaluated on the lines (the rig module's
``runaway_fires``), beside the detector's own reading (:meth:`core.alerts.Runaway.fires`):

* a hot key (one key legitimately rewritten 30 times in the window, each write rendered once) fires nothing;
* a loop (the same upload re-rendered again and again: its thumbnails removed as they are written, the same
  event coming back) fires both figures;
* a duplicate fan-out (one upload delivered a dozen times, as several subscriptions would, among other
  uploads) fires the per-upload figure;
* below the minimum volume (``alert_runaway_min_lines``) nothing fires; with no minimum, the same lines do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from core.alerts import RUNAWAY, RUNAWAY_MIN_LINES
from core.metric_fields import EVENT_REVISION_FIELD
from tests import rigs
from tests.e2e.conftest import ENTRYPOINTS, entrypoint_rig
from tests.images import jpeg_bytes
from tests.rigs.base import EntrypointRig

#: The rigs whose module reads the cloud's own runaway alerts (the clouds; the local rig has no alerts).
CLOUDS = [name for name in ENTRYPOINTS if hasattr(rigs.by_name(name), "runaway_fires")]
BOTH = {detector.name for detector in RUNAWAY}
Fires = Callable[..., set[str]]


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Iterator[EntrypointRig]:
    yield from entrypoint_rig(request, in_place=False)


def fires(rig: EntrypointRig) -> Fires:
    return rigs.by_name(rig.name).runaway_fires  # type: ignore[no-any-return]


def table_fires(lines: Sequence[Mapping[str, Any]], **overrides: float) -> set[str]:
    """The figures of the metric table over ``lines`` (what ``polythumb stats`` and the clouds compute)."""
    least = overrides.get(RUNAWAY_MIN_LINES.variable)
    return {detector.name for detector in RUNAWAY if detector.fires(lines, min_lines=least)}


def created(lines: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [line for line in lines if line.get("kind") == "created" and "notify" not in line and "status" in line]


def test_a_hot_key_rewritten_30_times_fires_nothing(cloud: EntrypointRig) -> None:
    """An avatar re-uploaded, a CI job overwriting one file: 30 distinct revisions of one key in the window, each
    delivered and rendered once. Counted per key this was 30 deliveries of one source; per upload it is 1 each."""
    rig = cloud
    avatar = rig.key("users/42/avatar.jpg")
    for variant in range(30):
        rig.upload(avatar, jpeg_bytes(96 + variant, 64))
        assert rig.deliver_rewritten(avatar).status == "ok"
    lines = rig.log_lines()
    deliveries = created(lines)
    assert len(deliveries) == 30 and {line["key"] for line in deliveries} == {avatar}
    assert len({line[EVENT_REVISION_FIELD] for line in deliveries}) == 30, "each write's own event revision"
    assert len([line for line in lines if line.get("output_bytes")]) == 30, "each revision rendered once"
    assert len(deliveries) >= RUNAWAY_MIN_LINES.default  # the volume is there: the grouping is what holds
    assert table_fires(lines) == set()
    assert fires(rig)(lines) == set()


def test_a_loop_re_rendering_the_same_upload_fires_both_figures(cloud: EntrypointRig) -> None:
    """The Firebase backfill loop's shape: the same object re-rendered again and again (its thumbnails removed
    as they are written, the same event coming back)."""
    rig = cloud
    photo = rig.key("loop/photo.jpg")
    rig.upload(photo, jpeg_bytes(160, 120))
    rig.deliver_created(photo)
    for _ in range(24):
        assert rig.remove_outputs() > 0
        assert rig.deliver_created(photo).status == "ok"
    lines = rig.log_lines()
    assert len({line[EVENT_REVISION_FIELD] for line in created(lines)}) == 1
    assert len([line for line in lines if line.get("output_bytes")]) == 25
    assert table_fires(lines) == BOTH
    assert fires(rig)(lines) == BOTH


def test_a_duplicate_fan_out_fires_the_per_upload_figure(cloud: EntrypointRig) -> None:
    """One upload delivered 12 times (the same notification through several subscriptions or rules), among ten
    other uploads delivered once; it is rendered once (the duplicates find everything current)."""
    rig = cloud
    for index in range(10):
        other = rig.key(f"fanout/other-{index}.jpg")
        rig.upload(other, jpeg_bytes(64 + index, 48))
        rig.deliver_created(other)
    photo = rig.key("fanout/photo.jpg")
    rig.upload(photo, jpeg_bytes(160, 120))
    for _ in range(12):
        rig.deliver_created(photo)
    lines = rig.log_lines()
    assert len([line for line in created(lines) if line["key"] == photo]) == 12
    assert table_fires(lines) == {"invocations_per_upload"}
    assert fires(rig)(lines) == {"invocations_per_upload"}

    # The same storm alone, on a deployment doing nothing else: 12 lines, under the minimum volume.
    alone = [line for line in lines if line.get("key") == photo]
    assert len(created(alone)) < RUNAWAY_MIN_LINES.default
    assert table_fires(alone) == set()
    assert fires(rig)(alone) == set()
    assert fires(rig)(alone, **{RUNAWAY_MIN_LINES.variable: 0}) == {"invocations_per_upload"}
    assert table_fires(alone, **{RUNAWAY_MIN_LINES.variable: 0}) == {"invocations_per_upload"}
