"""What a backfill plan implies: how many renders, and what they cost here or on the target cloud.

``polythumb backfill --dry-run`` counts the sources to render, the thumbnails they write and the bytes of
their originals (:class:`~core.ops.backfill.report.RenderCounts`), and prices them:

* the seconds of one render come from a deployment's own log lines (``--cost-from-logs``, per profile, as
  ``polythumb cost`` reads them), or else from one synthetic JPEG of the plan's mean original size rendered
  here with the plan's sizes (the lock-in report's measurement, :func:`core.reports.workload.measure_render`);
* ``--target local``: CPU seconds, and the wall time on ``--workers`` processes;
* ``--target <cloud>``: that cloud's pricing modules and price table, at the size its Terraform deploys
  (or ``--instance``), each render billed as one invocation.

A ``--max-renders`` bound prices the run it allows (``this_run``) next to the whole plan. Every assumption
is listed with the figures. Nothing here names a cloud.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core import registry
from core.config import Config
from core.ops.backfill.report import RenderCounts
from core.reports.measured import Measurements

MB = 1e6


def estimate(
    counts: RenderCounts,
    *,
    target: str,
    config: Config,
    workers: int,
    max_renders: int | None = None,
    measured: Measurements | None = None,
    measured_from: str = "",
    instance: Sequence[str] = (),
) -> dict[str, Any]:
    """The renders ``counts`` implies and their estimated cost (a JSON-ready dict)."""
    this_run = min(counts.sources, max_renders) if max_renders is not None else counts.sources
    result: dict[str, Any] = {
        "renders": counts.sources,
        "thumbnails": counts.thumbnails,
        "source_mb": round(counts.source_bytes / MB, 3),
        "by_profile": dict(sorted(counts.by_profile.items())),
        "this_run": this_run,
        "assumptions": [],
    }
    if not this_run:
        return result
    assumptions: list[str] = result["assumptions"]
    if measured is not None:
        durations = _measured_durations(counts, measured)
        seconds = statistics.fmean(durations)
        assumptions.append(
            f"Seconds per render: the mean measured per profile in {measured_from} "
            f"({', '.join(f'{p}: {d:.3f} s' for p, d in _per_profile(counts, measured).items())}; a profile "
            "not measured takes the mean of all), as the function logged them (duration_ms)."
        )
        thumb_bytes = sum(m.written_bytes for m in measured.profiles.values()) / max(1, measured.uploads)
        render = workload = None
    else:
        render, workload = _synthetic(counts, config)
        if render.error:
            assumptions.append(f"No render time: the synthetic render failed ({render.error}).")
            return result
        seconds = render.median_s
        durations = [seconds]
        thumb_bytes = float(sum(render.thumbnail_bytes))
        assumptions.append(
            f"Seconds per render: a synthetic {workload.megapixels:.1f} MP JPEG of the plan's mean original size "
            f"({workload.mean_mb:.2f} MB at {workload.bytes_per_pixel} bytes per pixel) rendered here to "
            f"{workload.sizes} in {seconds * 1000:.0f} ms (median); real originals of other formats, or other "
            "profiles' sizes and formats, take other times (pass --cost-from-logs with a deployment's log)."
        )
    cpu = this_run * seconds
    result["seconds_per_render"] = round(seconds, 4)
    result["cpu_seconds"] = round(cpu, 1)
    if target == "local":
        result["wall_seconds"] = round(cpu / max(1, workers), 1)
        assumptions.append(f"Wall time: the CPU seconds spread over {workers} worker processes, one core each.")
        return result
    synthetic = (render, workload) if render is not None else None
    result["cloud"] = _cloud(target, this_run, counts, durations=durations, thumb_bytes=thumb_bytes,
                             synthetic=synthetic, instance=instance, assumptions=assumptions)  # fmt: skip
    return result


def describe(result: dict[str, Any], *, target: str) -> str:
    """A few human lines of :func:`estimate`'s result."""
    profiles = ", ".join(f"{name}: {count}" for name, count in result["by_profile"].items())
    lines = [
        f"to render: {result['renders']} sources, {result['thumbnails']} thumbnails, {result['source_mb']:g} MB of "
        "originals" + (f" (profiles {profiles})" if profiles else "")
    ]
    if result["this_run"] != result["renders"]:
        lines.append(f"this run: {result['this_run']} renders (--max-renders), then a checkpoint: --resume continues")
    if "cpu_seconds" in result:
        line = f"estimated: {result['cpu_seconds']:g} CPU seconds ({result['seconds_per_render']:g} s a render)"
        if target == "local":
            line += f", about {result['wall_seconds']:g} s on this machine"
        lines.append(line)
    cloud = result.get("cloud") or {}
    if "total" in cloud:
        lines.append(f"estimated on {cloud['title']}: {cloud['total']:,.4f} {cloud['currency']}")
        lines += [f"    {line['item']}: {line['cost']:,.4f}" for line in cloud["lines"]]
    lines += [f"  - {assumption}" for assumption in result["assumptions"]]
    return "\n".join(lines)


def _per_profile(counts: RenderCounts, measured: Measurements) -> dict[str, float]:
    overall = statistics.fmean(ms for m in measured.profiles.values() for ms in m.durations_ms) / 1000
    return {
        name: (measured.profiles[name].mean_ms / 1000 if name in measured.profiles else overall)
        for name in counts.by_profile
    }


def _measured_durations(counts: RenderCounts, measured: Measurements) -> list[float]:
    """One duration (seconds) per source to render, by its profile's measured mean."""
    means = _per_profile(counts, measured)
    return [means[name] for name, count in counts.by_profile.items() for _ in range(count)]


def _synthetic(counts: RenderCounts, config: Config) -> tuple[Any, Any]:
    from core.reports.workload import Workload, measure_render

    mean_mb = max(counts.source_bytes / counts.sources / MB, 0.001)
    workload = Workload(counts.sources, round(mean_mb, 4), ",".join(str(box) for box in config.boxes))
    root = Path(__file__).resolve().parents[3]
    return measure_render(root, workload, repeat=2), workload


def _cloud(
    target: str, renders: int, counts: RenderCounts, *, durations: Sequence[float], thumb_bytes: float,
    synthetic: tuple[Any, Any] | None, instance: Sequence[str], assumptions: list[str],
) -> dict[str, Any]:  # fmt: skip
    """The target cloud's price of ``renders`` renders, one invocation each."""
    from core.ops.cost import billed_instance
    from core.reports import costs

    spec = registry.get(target)
    try:
        pricing = costs.pricing(target)
    except ValueError:
        assumptions.append(f"No price table for {spec.title}: CPU seconds only.")
        return {"title": spec.title}
    size, where = billed_instance(spec, {}, instance)
    deployment = pricing.deployment(size)
    prices = costs.load_prices()
    if synthetic is not None:  # rendered here: the lock-in model adds the storage round trips and download
        render, workload = synthetic
        billed = deployment.billed_seconds(costs.invocation_seconds(workload, render, costs.Assumptions()))
    else:
        billed = statistics.fmean(deployment.billed_seconds(seconds) for seconds in durations)
    month = costs.Month(renders, counts.thumbnails / counts.sources, billed, renders * thumb_bytes / costs.GIB,
                        deployment, costs.Assumptions())  # fmt: skip
    lines = pricing.estimate(month, prices[target])
    assumptions.append(
        f"{spec.title}: each render one invocation billed {billed:.3f} s at "
        f"{', '.join(f'{k}={v}' for k, v in size.items())} ({where}); storage requests as the lock-in report "
        f"models them; {prices.as_of} list prices in {prices.currency}, no free tier."
    )
    return {
        "title": spec.title,
        "currency": prices.currency,
        "billed_s_per_render": round(billed, 4),
        "lines": [{"item": line.item, "quantity": line.quantity, "cost": round(line.cost, 6)} for line in lines],
        "total": round(sum(line.cost for line in lines), 6),
    }
