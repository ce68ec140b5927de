"""Plan and execute on every storage rig: memory, filesystem, and each cloud emulator installed.

One bucket serves as source and destination, the hardest layout for the plan:
the thumbnails are in the source listing too (and must not count as sources),
S3 and Azure list no metadata (so thumbnail-shaped keys are head-ed), GCS lists
generations (so its revisions are compared without a request).
"""

from __future__ import annotations

from typing import Any

from core.config import load_config
from core.events import ObjectEvent
from core.ops.backfill.executor import run_local
from core.ops.backfill.planner import Planner
from core.ops.backfill.report import PlanSummary
from core.outcome import Status
from core.pipeline import Thumbnailer
from core.storage import Storage
from tests.images import jpeg_bytes


def _summarise(planner: Planner) -> PlanSummary:
    summary = PlanSummary()
    for entry in planner.entries():
        summary.add(entry)
    return summary


def test_plan_and_local_execution_agree_with_the_pipeline_on_every_backend(store: Any) -> None:
    bucket: Storage = store
    config = load_config({}, overrides={"THUMBS_DEST_BUCKET": bucket.bucket, "THUMBS_SIZES": "32x32,16x16"})
    photo, other = jpeg_bytes(64, 48), jpeg_bytes(48, 64)

    def opener(name: str) -> Storage:
        return bucket

    thumbnailer = Thumbnailer(config, opener)
    for key in [f"src/p{i:02}.jpg" for i in range(12)] + ["src/gone.jpg"]:
        bucket.put(key, photo, content_type="image/jpeg")
    for key in [f"src/p{i:02}.jpg" for i in range(8)] + ["src/gone.jpg"]:
        assert thumbnailer.handle(ObjectEvent.created(bucket.bucket, key)).status is Status.OK
    for key in ("src/p04.jpg", "src/p05.jpg"):
        bucket.put(key, other, content_type="image/jpeg")  # new content: its thumbnails are stale
    bucket.delete("src/gone.jpg")  # its two thumbnails are orphans
    bucket.put("src/holiday-32x32.jpg", photo, content_type="image/jpeg")  # a user's upload, shaped like a thumbnail

    planner = Planner(bucket, bucket, config, prefix="src/", io_workers=4)
    summary = _summarise(planner)

    assert summary.counts == {"missing": 5, "stale": 2, "current": 6, "orphaned": 2}
    assert planner.stats.polythumb_outputs == 18 and planner.stats.selected == 13
    backend = type(bucket).__name__
    # Listings without metadata (S3, Azure) cost a head per thumbnail-shaped key: the 18 thumbnails and the
    # user's file, never the 12 originals. Listings with generations (GCS) settle revisions without a request.
    assert planner.stats.dest_heads == (19 if backend in ("S3Storage", "AzureBlobStorage") else 1)
    assert planner.stats.source_heads == (0 if backend == "GcsStorage" else 2)
    assert summary.samples["missing"] == [
        "src/holiday-32x32.jpg", "src/p08.jpg", "src/p09.jpg", "src/p10.jpg", "src/p11.jpg",
    ]  # fmt: skip
    assert sorted(summary.samples["orphaned"]) == ["src/gone-16x16.jpg", "src/gone-32x32.jpg"]

    entries = [e for e in Planner(bucket, bucket, config, prefix="src/").entries() if e.needs_render or e.orphans]
    result = run_local(
        entries,
        config=config,
        source_bucket=bucket.bucket,
        dest_bucket=bucket.bucket,
        open_bucket=opener,
        delete_orphans=True,
    )
    assert (result.rendered, result.failed, result.orphans_deleted) == (7, 0, 2)

    after = _summarise(Planner(bucket, bucket, config, prefix="src/"))
    assert after.counts == {"missing": 0, "stale": 0, "current": 13, "orphaned": 0}
