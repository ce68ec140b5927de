"""A monthly cost estimate per cloud for a workload, from measured duration and a dated price table.

Per image the function does what the pipeline does: HEAD the original, GET it, HEAD each output,
PUT each output (one decode, every size). Its billed duration is the render time measured here
(times ``cpu_factor``) plus one round trip per storage request and the download of the original;
its billed memory is what the Terraform deploys. The price table (``prices.json``) carries its date
and sources; every assumption is listed by :func:`assumptions`.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import registry
from core.reports.measured import Measurements, ProfileMeasure
from core.reports.workload import RenderSample, Workload

PRICES = Path(__file__).with_name("prices.json")
GIB = 2**30


@dataclass(frozen=True)
class Price:
    """One price: ``price`` per ``per`` ``unit``."""

    price: float
    per: float
    unit: str
    note: str = ""
    sources: tuple[str, ...] = ()

    def cost(self, quantity: float) -> float:
        return quantity * self.price / self.per


@dataclass(frozen=True)
class PriceTable:
    """The dated price table, per cloud."""

    as_of: str
    currency: str
    regions: Mapping[str, str]
    items: Mapping[str, Mapping[str, Price]]

    def __getitem__(self, cloud: str) -> Mapping[str, Price]:
        return self.items[cloud]


def load_prices(path: Path = PRICES) -> PriceTable:
    """Read a price table.

    Raises:
        ValueError: an item lacks a price, a unit or a source, or the table has no date.
    """
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if not document.get("as_of"):
        raise ValueError(f"{path}: the price table needs an 'as_of' date")
    items: dict[str, dict[str, Price]] = {}
    regions = {}
    for cloud in registry.names():
        section = document.get(cloud) or {}
        regions[cloud] = str(section.get("region", ""))
        items[cloud] = {}
        for name, raw in (section.get("items") or {}).items():
            if "price" not in raw or not raw.get("unit") or not raw.get("sources"):
                raise ValueError(f"{path}: {cloud}.{name} needs a price, a unit and at least one source URL")
            items[cloud][name] = Price(
                float(raw["price"]),
                float(raw.get("per", 1)),
                str(raw["unit"]),
                str(raw.get("note", "")),
                tuple(raw["sources"]),
            )
    return PriceTable(str(document["as_of"]), str(document.get("currency", "USD")), regions, items)


@dataclass(frozen=True)
class Assumptions:
    """What the model assumes beyond what is measured."""

    request_ms: float = 15.0  # one storage request inside the region, round trip
    download_mb_per_s: float = 100.0  # reading the original from storage inside the region
    cpu_factor: float = 1.0  # a cloud vCPU against this machine's core
    sqs_requests_per_image: int = 3  # S3's SendMessage, the poller's ReceiveMessage, DeleteMessage
    pubsub_bytes_per_message: int = 1500  # a storage notification (object resource) as published and pushed
    event_grid_operations_per_event: int = 2  # publish to the system topic + one delivery attempt


@dataclass(frozen=True)
class Deployment:
    """The size one cloud's Terraform deploys, and how that cloud rounds billed time."""

    memory_gb: float
    cpu: float | None = None
    granularity_ms: float = 1.0
    minimum_ms: float = 0.0

    def billed_seconds(self, seconds: float) -> float:
        """``seconds`` as billed: at least the minimum, rounded up to the granularity."""
        ms = max(seconds * 1000, self.minimum_ms)
        return math.ceil(round(ms / self.granularity_ms, 6)) * self.granularity_ms / 1000


def pricing(cloud: str) -> Any:
    """The provider's pricing module (its descriptor's ``pricing``): ``deployment`` and ``estimate``.

    Raises:
        ValueError: ``cloud`` is no provider of this install, or declares no pricing.
    """
    spec = registry.providers().get(cloud)
    path = spec.pricing if spec is not None else None
    if not path:
        raise ValueError(f"unknown cloud {cloud!r}")
    return registry.resolve(path)


def deployment_for(cloud: str, instance: Mapping[str, str]) -> Deployment:
    """The deployment of ``cloud`` from its Terraform defaults (see :mod:`core.reports.concepts`)."""
    deployment: Deployment = pricing(cloud).deployment(instance)
    return deployment


@dataclass(frozen=True)
class Line:
    """One line of an estimate."""

    item: str
    quantity: float
    price: Price

    @property
    def cost(self) -> float:
        return self.price.cost(self.quantity)


@dataclass(frozen=True)
class Estimate:
    """A cloud's monthly cost for the workload."""

    cloud: str
    invocation_s: float
    billed_s: float
    deployment: Deployment
    lines: list[Line] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)


def invocation_seconds(workload: Workload, render: RenderSample, assumptions: Assumptions) -> float:
    """Modelled duration of one invocation: render + storage round trips + download of the original."""
    requests = 2 + 2 * workload.boxes
    return (
        render.median_s * assumptions.cpu_factor
        + requests * assumptions.request_ms / 1000
        + workload.mean_mb / assumptions.download_mb_per_s
    )


@dataclass(frozen=True)
class Month:
    """The workload's month, as every cloud's :func:`estimate` prices it.

    Attributes:
        images: Images rendered in the month (invocations, when priced from measurements).
        thumbnails: Thumbnails per image (written per invocation, when measured: a mean).
        billed_s: Billed seconds of one invocation (the deployment's rounding applied).
        thumbnail_gb: GiB of the month's new thumbnails.
        deployment: What the Terraform deploys.
        assumptions: The model's assumptions.
    """

    images: float
    thumbnails: float
    billed_s: float
    thumbnail_gb: float
    deployment: Deployment
    assumptions: Assumptions


def thumbnail_gb(workload: Workload, render: RenderSample) -> float:
    return workload.images_per_month * sum(render.thumbnail_bytes) / GIB


def estimate(
    cloud: str,
    workload: Workload,
    *,
    render: RenderSample,
    deployment: Deployment,
    prices: PriceTable,
    assumptions: Assumptions,
) -> Estimate:
    """The monthly estimate of ``cloud``."""
    seconds = invocation_seconds(workload, render, assumptions)
    billed = deployment.billed_seconds(seconds)
    month = Month(
        workload.images_per_month, workload.boxes, billed, thumbnail_gb(workload, render), deployment, assumptions
    )
    lines: list[Line] = pricing(cloud).estimate(month, prices[cloud])
    return Estimate(cloud, seconds, billed, deployment, lines)


def assumptions_text(
    workload: Workload,
    render: RenderSample,
    assumptions: Assumptions,
    prices: PriceTable,
    deployments: Mapping[str, Deployment],
) -> list[str]:
    """Every assumption behind the estimate, as sentences."""
    lines = [
        f"Workload: {workload.images_per_month:,} images a month, {workload.mean_mb:g} MB mean size, "
        f"sizes {workload.sizes} ({workload.boxes} thumbnails each); creations only (a delete costs a few "
        "HEAD requests; the DELETE requests themselves are free on S3, GCS and Azure).",
        f"An original of {workload.mean_mb:g} MB is taken as a {workload.megapixels:.1f} MP JPEG "
        f"({workload.bytes_per_pixel} bytes per pixel, as a 12 MP / 3.5 MB phone photo); a synthetic one of that "
        f"size ({render.source_bytes / 1e6:.1f} MB, {render.pixels / 1e6:.1f} MP) rendered here in "
        f"{render.median_s * 1000:.0f} ms (median), peak RSS {render.peak_rss_mb or 0:.0f} MB, thumbnails of "
        f"{', '.join(str(b) for b in render.thumbnail_bytes)} bytes.",
        f"Duration per invocation = render x {assumptions.cpu_factor:g} (a cloud vCPU against this core) + "
        f"{2 + 2 * workload.boxes} storage requests x {assumptions.request_ms:g} ms + the download at "
        f"{assumptions.download_mb_per_s:g} MB/s; one image per invocation (SQS batches and instance concurrency "
        "would lower the per-request and minimum-duration charges).",
        "Billed memory is what each Terraform deploys, not what the render used: "
        + "; ".join(
            f"{cloud} {d.memory_gb:g} GB"
            + (f" and {d.cpu:g} vCPU" if d.cpu else "")
            + f", billed per {d.granularity_ms:g} ms"
            + (f" with a {d.minimum_ms:g} ms minimum" if d.minimum_ms else "")
            for cloud, d in deployments.items()
        )
        + ".",
        "Storage: the month's new thumbnails kept for a whole month (the stock of earlier months is not "
        "counted); originals, their uploads, egress and logs are the same whatever polythumb does and are "
        "left out. Sizes in GiB.",
        f"Events: SQS {assumptions.sqs_requests_per_image} requests per image; Pub/Sub "
        f"{assumptions.pubsub_bytes_per_message} bytes per message, published and pushed once (at least 1000 bytes "
        f"billed each); Event Grid {assumptions.event_grid_operations_per_event} operations per event (publish + one "
        "delivery, conservative).",
        f"Prices: list prices as of {prices.as_of} in {prices.currency}, no free tier and no discounts "
        f"({'; '.join(f'{c}: {r}' for c, r in prices.regions.items())}); see the price table's sources.",
    ]
    return lines


@dataclass(frozen=True)
class ProfileCost:
    """One profile's month, priced from a deployment's own measurements (:mod:`core.reports.measured`).

    Attributes:
        measure: What the logs showed for the profile.
        uploads: The month's uploads that go to this profile (the measured share of the total).
        events: The month's invocations for them (uploads x the measured events per upload).
        billed_s: Mean billed seconds of one invocation (each measured duration rounded as the cloud bills).
        lines: The month's priced lines.
    """

    measure: ProfileMeasure
    uploads: float
    events: float
    billed_s: float
    lines: list[Line]

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)


def price_measured(
    cloud: str,
    measurements: Measurements,
    *,
    uploads_per_month: float,
    deployment: Deployment,
    prices: PriceTable,
    assumptions: Assumptions = Assumptions(),
) -> list[ProfileCost]:
    """Each profile's month for ``uploads_per_month`` uploads, with ``cloud``'s pricing and the measured mix.

    Every measured event is an invocation as the cloud bills it (its duration rounded up to the
    granularity, the minimum applied, at the deployment's memory); the storage requests per invocation
    follow the pricing module's model, with the measured thumbnails written per invocation.
    """
    costs: list[ProfileCost] = []
    for name, measure in measurements.profiles.items():
        if not measure.events:
            continue
        uploads = uploads_per_month * measurements.share(name)
        events = uploads * measure.events_per_upload
        billed = statistics.fmean(deployment.billed_seconds(ms / 1000) for ms in measure.durations_ms)
        stored_gb = uploads * (measure.written_bytes / measure.uploads) / GIB if measure.uploads else 0.0
        month = Month(events, measure.written / measure.events, billed, stored_gb, deployment, assumptions)
        lines: list[Line] = pricing(cloud).estimate(month, prices[cloud])
        costs.append(ProfileCost(measure, uploads, events, billed, lines))
    return costs
