"""A model of a cloud backfill at scale: how long 10 million images take on each cloud, and what limits it.

``python -m core.backfill.model`` prints the table; ``--measure`` first times polythumb's own render of
a 12 MP JPEG on this machine (the median of several runs of :class:`core.pipeline.Thumbnailer` on
in-memory storage) instead of using :data:`MEASURED_RENDER_SECONDS`; ``--json`` prints the numbers.

A backfill is three stages, and the slowest one sets the pace:

1. **Plan** (the operator's machine): list the destination (1,000 keys a page) and, on S3 and Azure whose
   listings carry no metadata, ``head`` every existing thumbnail (``--workers`` threads); then list the source.
2. **Hand over** (the operator's machine): SQS ``SendMessageBatch`` (10 per request, ``--workers``
   requests in flight), one Storage Queue ``Put Message`` per item (``--workers`` in flight), or one
   HTTP post per item that returns when the render is done (GCP).
3. **Render** (the cloud): the functions the platform runs at once, times what one of them renders per
   second -- CPU-bound at the vCPU share the deploy gives it -- capped by the storage request rates.

Rendering overlaps the hand-over (the queue fills while the functions drain it), so
``total = plan + images / min(hand-over, render, storage)`` (plus Lambda's documented ramp-up). It is a
model, not a benchmark: the assumptions in :class:`Assumptions` are stated, every platform limit
carries its source in :data:`SOURCES`, and the measured render time is this machine's CPU.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

#: Seconds of CPU for polythumb to render one 12 MP JPEG (4000 x 3000, ~6 MB) into each deploy's sizes:
#: median of 7 runs of the whole pipeline on in-memory storage, measured 2026-11-29 on this repository's
#: dev machine (Intel Xeon, 2 vCPUs, Pillow 13, JPEG draft decoding). ``--measure`` measures again.
MEASURED_RENDER_SECONDS = {"128x128,512x512": 0.137, "256x256": 0.115}

#: The date the limits below were looked up.
RETRIEVED = "2026-11-29"


@dataclass(frozen=True)
class Source:
    """Where a platform limit comes from."""

    limit: str
    url: str


SOURCES: dict[str, Source] = {
    "lambda_concurrency": Source(
        "Lambda concurrent executions: 1,000 per Region by default",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    ),
    "lambda_cpu": Source(
        "Lambda CPU is proportional to memory; 1,769 MB = one vCPU",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html",
    ),
    "sqs_scaling": Source(
        "SQS event source: starts with 5 concurrent batches, adds up to 300 per minute, at most 1,000",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
    ),
    "sqs_quotas": Source(
        "SQS: 10 messages per SendMessageBatch; standard queues take a nearly unlimited number of calls/s",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html",
    ),
    "s3_rates": Source(
        "S3: at least 3,500 PUT and 5,500 GET/HEAD requests/s per partitioned prefix",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html",
    ),
    "s3_list": Source(
        "S3 ListObjectsV2: up to 1,000 keys per request",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html",
    ),
    "gcf_max_instances": Source(
        "Cloud Run functions: default maximum of 100 instances; one request per instance unless configured",
        "https://cloud.google.com/functions/docs/configuring/max-instances",
    ),
    "gcs_rates": Source(
        "Cloud Storage: a bucket starts at ~1,000 writes/s and ~5,000 reads/s, then autoscales",
        "https://cloud.google.com/storage/docs/request-rate",
    ),
    "run_ingress": Source(
        "Cloud Run internal ingress: only the project's VPC networks and Google services get in",
        "https://cloud.google.com/run/docs/securing/ingress",
    ),
    "flex": Source(
        "Flex Consumption: 2,048 MB instances have 1 CPU core; maximum instance count 40..1,000 (default 100)",
        "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan",
    ),
    "storage_queue": Source(
        "Queue Storage: up to 2,000 messages/s per queue, 20,000 per account (1 KiB messages)",
        "https://learn.microsoft.com/azure/storage/queues/scalability-targets",
    ),
    "azure_account": Source(
        "Standard storage account: 20,000 requests/s by default",
        "https://learn.microsoft.com/azure/storage/common/scalability-targets-standard-account",
    ),
}


@dataclass(frozen=True)
class Assumptions:
    """What the model assumes rather than looks up or measures.

    Attributes:
        images: Sources to backfill.
        existing: Every thumbnail exists already (a re-render after a settings change), so planning
            lists them and, on S3 and Azure, heads each one; False is a first backfill.
        io_seconds: One image's storage round trips inside the region (HEADs, GET of a few MB, PUTs).
        cpu_factor: The cloud vCPU's speed relative to the machine that measured the render (1 = equal).
        list_page_seconds: One listing page of 1,000 keys, from the operator's machine.
        head_seconds: One HEAD from the operator's machine.
        rtt_seconds: One queue request from the operator's machine (SendMessageBatch, Put Message).
        workers: ``--workers``: the sink's requests in flight, and the planner's HEAD threads (16 by default).
    """

    images: int = 10_000_000
    existing: bool = False
    io_seconds: float = 0.25
    cpu_factor: float = 1.0
    list_page_seconds: float = 0.25
    head_seconds: float = 0.03
    rtt_seconds: float = 0.05
    workers: int = 16


@dataclass(frozen=True)
class Scenario:
    """One cloud, one configuration.

    Attributes:
        cloud: ``aws``, ``gcp`` or ``azure``.
        label: What is configured (the deploy's defaults, or the platform's).
        instances: Execution environments / instances running at once at most.
        per_instance: Renders one instance runs at once.
        vcpus: CPU share of one instance.
        sizes: The deploy's ``THUMBS_SIZES`` (thumbnails per image, and the render measured).
        hand_over: ``sqs``, ``storage-queue`` or ``http`` (a post is the render).
        storage_images_per_second: The storage request-rate cap, in images per second.
        listing_has_metadata: GCS lists metadata: planning needs no HEADs.
        ramp_seconds: Time the platform takes to reach ``instances`` (Lambda's SQS poller ramp).
        workers: ``--workers`` for this row (None: the assumption's).
        sources: Keys of :data:`SOURCES` this row rests on.
    """

    cloud: str
    label: str
    instances: int
    per_instance: int
    vcpus: float
    sizes: str
    hand_over: str
    storage_images_per_second: float
    listing_has_metadata: bool = False
    ramp_seconds: float = 0.0
    workers: int | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Estimate:
    """The model's answer for one scenario (seconds and images per second)."""

    cloud: str
    label: str
    in_flight: int
    render_seconds: float
    render_rate: float
    hand_over_rate: float
    storage_rate: float
    plan_seconds: float
    drain_seconds: float
    total_seconds: float
    bottleneck: str


def _thumbnails(sizes: str) -> int:
    return len(sizes.split(","))


def lambda_ramp_seconds(concurrency: int) -> float:
    """Seconds for the SQS event source to reach ``concurrency`` batches: 5 at first, +300 per minute."""
    return max(0.0, (concurrency - 5) / 300 * 60)


def scenarios() -> list[Scenario]:
    """The rows of the table: each cloud with its deploy's defaults, then with the platform's.

    Deploy values are those of ``providers/<cloud>/deploy`` (``tests/test_backfill_model.py`` checks them):
    AWS ``memory_size`` 2048 MB and ``reserved_concurrency`` 10 (also the event source's maximum
    concurrency), GCP ``available_cpu`` 1, ``max_instance_count`` 10 and one request per instance, Azure
    ``instance_memory_mb`` 2048 and ``maximum_instance_count`` 40, with ``host.json`` letting one instance
    take ``batchSize`` 2 + ``newBatchThreshold`` 1 = 3 messages at once.
    """
    lambda_vcpus = 2048 / 1769
    s3 = 3500 / _thumbnails("128x128,512x512")  # thumbnail PUTs into one destination prefix
    gcs = 1000 / _thumbnails("256x256")  # a bucket's initial write capacity
    # Per image on the images account: HEAD + GET of the source, 2 HEADs + 2 PUTs of thumbnails, and the
    # backfill queue's Put, Get and Delete Message (the queue lives on the same account).
    azure = 20_000 / 9
    return [
        Scenario("aws", "deploy defaults (reserved concurrency 10)", 10, 1, lambda_vcpus, "128x128,512x512", "sqs",
                 s3, ramp_seconds=lambda_ramp_seconds(10),
                 sources=("lambda_cpu", "sqs_scaling", "sqs_quotas", "s3_rates", "s3_list")),
        Scenario("aws", "account default (1,000 concurrent)", 1000, 1, lambda_vcpus, "128x128,512x512", "sqs",
                 s3, ramp_seconds=lambda_ramp_seconds(1000),
                 sources=("lambda_concurrency", "lambda_cpu", "sqs_scaling", "sqs_quotas", "s3_rates", "s3_list")),
        Scenario("gcp", "deploy defaults (10 instances, --workers 16)", 10, 1, 1.0, "256x256", "http", gcs,
                 listing_has_metadata=True, sources=("gcf_max_instances", "gcs_rates", "run_ingress")),
        Scenario("gcp", "platform default (100 instances, --workers 100)", 100, 1, 1.0, "256x256", "http", gcs,
                 listing_has_metadata=True, workers=100,
                 sources=("gcf_max_instances", "gcs_rates", "run_ingress")),
        Scenario("azure", "deploy defaults (40 instances)", 40, 3, 1.0, "128x128,512x512", "storage-queue", azure,
                 sources=("flex", "storage_queue", "azure_account")),
        Scenario("azure", "platform default (100 instances, --workers 64)", 100, 3, 1.0, "128x128,512x512",
                 "storage-queue", azure, workers=64, sources=("flex", "storage_queue", "azure_account")),
    ]  # fmt: skip


def estimate(scenario: Scenario, assumptions: Assumptions, *, render_cpu: dict[str, float] | None = None) -> Estimate:
    """How long ``assumptions.images`` take in ``scenario``."""
    a = assumptions
    cpu = (render_cpu or MEASURED_RENDER_SECONDS)[scenario.sizes] * a.cpu_factor
    workers = scenario.workers or a.workers
    # One render: its CPU at the instance's share (one render uses at most one core) plus its storage I/O.
    render_seconds = cpu / min(1.0, scenario.vcpus) + a.io_seconds
    per_instance = min(scenario.vcpus / cpu, scenario.per_instance / render_seconds)
    render_rate = scenario.instances * per_instance
    if scenario.hand_over == "sqs":
        hand_over = workers * 10 / a.rtt_seconds
    elif scenario.hand_over == "storage-queue":
        hand_over = min(workers / a.rtt_seconds, 2000.0)
    else:  # a post returns when its render is done: the posts in flight are the renders in flight
        in_flight = min(workers, scenario.instances * scenario.per_instance)
        hand_over = in_flight / (render_seconds + a.rtt_seconds)
        render_rate = min(render_rate, hand_over)
    rates = {"render": render_rate, "hand-over": hand_over, "storage": scenario.storage_images_per_second}
    drain_rate = min(rates.values())
    plan = _plan_seconds(scenario, a, workers=workers)
    drain = a.images / drain_rate + scenario.ramp_seconds / 2  # the ramp runs at half speed on average
    stage = min(rates, key=lambda name: rates[name])
    bottleneck = "plan" if plan > drain else stage
    return Estimate(
        cloud=scenario.cloud,
        label=scenario.label,
        in_flight=min(scenario.instances * scenario.per_instance, workers)
        if scenario.hand_over == "http"
        else scenario.instances * scenario.per_instance,
        render_seconds=render_seconds,
        render_rate=render_rate,
        hand_over_rate=hand_over,
        storage_rate=scenario.storage_images_per_second,
        plan_seconds=plan,
        drain_seconds=drain,
        total_seconds=plan + drain,
        bottleneck=bottleneck,
    )


def _plan_seconds(scenario: Scenario, a: Assumptions, *, workers: int) -> float:
    """Listing the destination (and HEADs, on ``workers`` threads, where listings lack metadata), then the source."""
    source = a.images / 1000 * a.list_page_seconds
    if not a.existing:
        return source
    thumbnails = a.images * _thumbnails(scenario.sizes)
    listing = thumbnails / 1000 * a.list_page_seconds
    heads = 0.0 if scenario.listing_has_metadata else thumbnails * a.head_seconds / workers
    return max(listing, heads) + source  # the HEADs run on a pool while the listing goes on


def measure_render_seconds(*, sizes: str, runs: int = 7, megapixels: float = 12.0) -> float:
    """Median CPU seconds of polythumb rendering one photo-like JPEG of ``megapixels`` into ``sizes``."""
    from PIL import Image

    from core.config import load_config
    from core.events import ObjectEvent
    from core.pipeline import Thumbnailer
    from core.storage import MemoryStorage

    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    # Gradients plus noise: JPEG entropy close to a photo's (a flat image would decode unrealistically fast).
    base = Image.linear_gradient("L").resize((width, height))
    channels = [
        Image.blend(base.transpose(turn), Image.effect_noise((width, height), sigma), mix)
        for turn, sigma, mix in ((Image.Transpose.FLIP_TOP_BOTTOM, 40, 0.5), (Image.Transpose.ROTATE_180, 60, 0.4),
                                 (Image.Transpose.FLIP_LEFT_RIGHT, 25, 0.3))
    ]  # fmt: skip
    buffer = io.BytesIO()
    Image.merge("RGB", channels).save(buffer, "JPEG", quality=90)
    photo = buffer.getvalue()
    config = load_config({"THUMBS_DEST_BUCKET": "dest", "THUMBS_SIZES": sizes})
    seconds = []
    for _ in range(runs):
        stores = {"src": MemoryStorage("src"), "dest": MemoryStorage("dest")}
        stores["src"].put("photo.jpg", photo, content_type="image/jpeg")
        thumbnailer = Thumbnailer(config, stores.__getitem__)
        started = time.process_time()
        outcome = thumbnailer.handle(ObjectEvent.created("src", "photo.jpg"))
        seconds.append(time.process_time() - started)
        if outcome.status != "ok":
            raise RuntimeError(f"the measured render failed: {outcome.error_kind} {outcome.error_message}")
    return statistics.median(seconds)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def table(estimates: Sequence[Estimate]) -> str:
    """A Markdown table of ``estimates``."""
    lines = [
        "| cloud | configuration | renders in flight | s per image | render img/s | hand-over img/s | "
        "storage cap img/s | plan | drain | total | bottleneck |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in estimates:
        lines.append(
            f"| {e.cloud} | {e.label} | {e.in_flight} | {e.render_seconds:.2f} | {e.render_rate:,.0f} | "
            f"{e.hand_over_rate:,.0f} | {e.storage_rate:,.0f} | {_duration(e.plan_seconds)} | "
            f"{_duration(e.drain_seconds)} | {_duration(e.total_seconds)} | {e.bottleneck} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the model's table for a first backfill and for a re-render of existing thumbnails."""
    parser = argparse.ArgumentParser(prog="python -m core.backfill.model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=Assumptions.images, help="sources (default 10,000,000)")
    parser.add_argument("--measure", action="store_true", help="time the render on this machine first")
    parser.add_argument("--runs", type=int, default=7, help="renders measured per size (median)")
    parser.add_argument("--cpu-factor", type=float, default=1.0, help="cloud vCPU time per local CPU second")
    parser.add_argument("--json", action="store_true", help="print the estimates as JSON")
    args = parser.parse_args(argv)
    render_cpu = dict(MEASURED_RENDER_SECONDS)
    if args.measure:
        render_cpu = {sizes: measure_render_seconds(sizes=sizes, runs=args.runs) for sizes in render_cpu}
    base = Assumptions(images=args.images, cpu_factor=args.cpu_factor)
    workloads = {"first backfill": base, "re-render (all thumbnails exist)": replace(base, existing=True)}
    results = {
        name: [estimate(s, assumptions, render_cpu=render_cpu) for s in scenarios()]
        for name, assumptions in workloads.items()
    }
    if args.json:
        payload = {
            "render_cpu_seconds": render_cpu,
            "assumptions": asdict(base),
            "estimates": {name: [asdict(e) for e in rows] for name, rows in results.items()},
            "sources": {key: asdict(source) | {"retrieved": RETRIEVED} for key, source in SOURCES.items()},
        }
        print(json.dumps(payload, indent=2))
        return 0
    measured = ", ".join(f"{sizes}: {seconds:.3f} s" for sizes, seconds in render_cpu.items())
    print(f"{args.images:,} images; render CPU per 12 MP JPEG ({'measured now' if args.measure else 'recorded'}): "
          f"{measured}")  # fmt: skip
    for name, rows in results.items():
        print(f"\n{name}\n")
        print(table(rows))
    print(f"\nLimits (retrieved {RETRIEVED}):")
    for source in SOURCES.values():
        print(f"- {source.limit}: {source.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
