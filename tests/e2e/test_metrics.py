"""The metric table on every entrypoint: the log lines each platform's function really writes carry its figures,
and each cloud's own metric definitions (CloudWatch EMF and Contributor Insights, log-based metrics and Log
Analytics SQL, KQL) read exactly the table's measurements from them (the rig module's ``check_metric_lines``).

One scenario feeds every metric: an upload rendered (upload to ready, bytes, megapixels), the same event
delivered again (skipped), a file that is no image (failed, ``not_an_image``), a delete, and completion events
that cannot be published (``THUMBS_NOTIFY`` at a path no file can have): each announcement's failure is a line
of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from core.metrics import measure
from tests import rigs
from tests.e2e.conftest import ENTRYPOINTS, entrypoint_rig
from tests.images import jpeg_bytes
from tests.rigs.base import EntrypointRig

#: A completion target that always fails, transiently (a file under /dev/null cannot be created).
BROKEN_NOTIFY = {"THUMBS_NOTIFY": "file:/dev/null/polythumb-events.jsonl"}


@pytest.fixture(params=ENTRYPOINTS)
def observed(request: pytest.FixtureRequest) -> Iterator[EntrypointRig]:
    """A rig whose completion events cannot be published."""
    yield from entrypoint_rig(request, in_place=False, extra=BROKEN_NOTIFY)


def test_the_log_lines_carry_the_metric_table(observed: EntrypointRig) -> None:
    """Every metric of the table is read from the function's own log lines, as the cloud's definitions read it."""
    rig = observed
    photo, broken = rig.key("metrics/photo.jpg"), rig.key("metrics/broken.jpg")
    rig.upload(photo, jpeg_bytes(640, 480))
    rig.deliver_created(photo)
    rig.deliver_created(photo)  # the same event again: everything is current
    rig.upload(broken, b"<html>no image</html>")
    rig.deliver_created(broken)
    rig.deliver_deleted(photo)

    lines = rig.log_lines()
    measurements = [m for line in lines for m in measure(line)]
    by_metric: dict[str, list[float]] = {}
    for measurement in measurements:
        by_metric.setdefault(measurement.metric, []).append(measurement.value)
    renders = [m.attributes for m in measurements if m.metric == "polythumb.renders"]
    statuses = Counter(attributes["status"] for attributes in renders)
    assert statuses["ok"] == 2 and statuses["skipped"] >= 1 and statuses["failed"] == 1, statuses
    [failed] = [attributes for attributes in renders if attributes["status"] == "failed"]
    assert failed["error_kind"] == "not_an_image" and failed["profile"] == "default"
    assert {attributes.get("route") for attributes in renders} == {lines[0]["route"]}
    rendered = [line for line in lines if line.get("output_bytes") is not None]
    assert len(rendered) == 1 and rendered[0]["output_format"] == "jpeg" and rendered[0]["profile"] == "default"
    assert rendered[0]["output_bytes"] == sum(o["bytes"] for o in rendered[0]["outputs"] if o["action"] == "written")
    assert by_metric["polythumb.source.megapixels"] == [0.307]  # 640 x 480
    [ready] = by_metric["polythumb.upload_to_ready"]
    assert 0 <= ready < 120_000  # from the storage event's time to the last thumbnail: this test's own seconds
    assert len(by_metric["polythumb.notify.failures"]) >= 3  # ready (twice), failed, deleted: none published
    assert all(line.get("trace_id") for line in lines if "status" in line and "kind" in line)

    check = getattr(rigs.by_name(rig.name), "check_metric_lines", None)
    if check is not None:  # the cloud's own definitions, read off its generated Terraform
        check(lines)
