"""A model of a cloud backfill at scale: how long 10 million images take on each cloud, and what limits it.

``python -m core.reports.capacity`` prints the table; ``--measure`` first times polythumb's own render of
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
carries its source (:func:`sources`, declared by each provider), and the measured render time is this machine's CPU.
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
from typing import Any

from core import registry

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


def _from_providers(name: str) -> list[Any]:
    """Every provider's capacity module (its descriptor's ``capacity``): ``name`` of each, in registry order."""
    found: list[Any] = []
    for spec in registry.providers().values():
        path = spec.capacity
        if path:
            found.append(getattr(registry.resolve(path), name))
    return found


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
        cloud: The provider's name (:mod:`core.registry`).
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
        sources: Keys of :func:`sources` this row rests on.
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


def thumbnails(sizes: str) -> int:
    """Thumbnails per image for a ``THUMBS_SIZES`` value."""
    return len(sizes.split(","))


def sources() -> dict[str, Source]:
    """Every limit the rows rest on, by key: each provider declares its own (``providers/<cloud>/capacity.py``)."""
    return {key: source for found in _from_providers("SOURCES") for key, source in found.items()}


def scenarios() -> list[Scenario]:
    """The rows of the table: each provider's, with its deploy's defaults, then with the platform's."""
    return [row for found in _from_providers("SCENARIOS") for row in found]


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
    outputs = a.images * thumbnails(scenario.sizes)
    listing = outputs / 1000 * a.list_page_seconds
    heads = 0.0 if scenario.listing_has_metadata else outputs * a.head_seconds / workers
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
    parser = argparse.ArgumentParser(prog="python -m core.reports.capacity", description=__doc__.split("\n\n")[0])
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
            "sources": {key: asdict(source) | {"retrieved": RETRIEVED} for key, source in sources().items()},
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
    for source in sources().values():
        print(f"- {source.limit}: {source.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
