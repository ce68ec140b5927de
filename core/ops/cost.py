"""``polythumb cost <cloud>``: a month of this deployment at a given upload rate, priced from its own logs.

The lock-in report prices a synthetic render measured on this machine (:mod:`core.reports.costs`). Here
the same price table and the same provider pricing modules are fed with what the deployment measured:
per profile, its share of the uploads, its events per upload (redeliveries and retries included), every
event's duration rounded as the cloud bills it, the thumbnails it wrote and their bytes, and, on AWS, the
peak memory Lambda reported. The lines come from a file (``--from-logs``: JSON lines, an export of the log
group, ``polythumb run --json``) or from the cloud's log store (``--from-cloud``: the provider's query,
its SDK or CLI loaded only then). Billed memory is the deployment's (its ``cost_inputs`` output, else the
Terraform defaults, or ``--instance``). Every assumption is printed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core import registry
from core.config import load_config
from core.errors import ConfigError
from core.ops.console import EXIT_OK
from core.ops.deploy import deployment_outputs

#: Fewer created events than this per profile make a rough estimate; it is said so.
FEW_SAMPLES = 20


def add_parser(commands: Any) -> None:
    """Register ``cost`` on the CLI's sub-command parsers."""
    cost = commands.add_parser("cost", help="price a month of a deployment from its own measured renders")
    cost.add_argument("provider", choices=registry.names())
    cost.add_argument("--uploads-per-month", type=float, required=True, metavar="N", help="uploads a month to price")
    source = cost.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-logs", type=Path, action="append", metavar="FILE", help="log lines (JSON lines); repeatable"
    )
    source.add_argument("--from-cloud", action="store_true", help="read the deployment's log store (--hours back)")
    cost.add_argument("--hours", type=float, default=24.0, help="with --from-cloud: hours of logs to read (default 24)")
    cost.add_argument("--workdir", type=Path, help="where `polythumb deploy` ran (default: the deploy folder)")
    cost.add_argument(
        "--instance", action="append", default=[], metavar="KEY=VALUE",
        help="billed size instead of the deployment's (memory_mb=1024; GCP: memory=1Gi, cpu=1)",
    )  # fmt: skip
    cost.add_argument("--prices", type=Path, help="price table (default core/reports/prices.json)")
    cost.add_argument("--json", action="store_true", help="print one JSON object")


def cost_command(args: argparse.Namespace) -> int:
    """``polythumb cost <provider>``."""
    from core.reports import costs
    from core.reports.measured import measure, read_lines

    if not args.uploads_per_month > 0:
        raise ConfigError("--uploads-per-month must be a positive number")
    spec = registry.get(args.provider)
    outputs = _outputs(spec, args.workdir, required=args.from_cloud)
    pricing = costs.pricing(spec.name)
    if args.from_cloud:
        lines: Iterable[str] = pricing.log_lines(outputs, hours=args.hours)
        source = f"the deployment's logs of the last {args.hours:g} h"
    else:
        lines = _read_files(args.from_logs)
        source = ", ".join(str(path) for path in args.from_logs)
    logs = read_lines(lines)
    measurements = measure(logs, profile_of=_profile_of(outputs, spec))
    if not measurements.profiles:
        raise ConfigError(f"no created events with duration_ms in {source}: nothing measured to price")
    instance, where = billed_instance(spec, outputs, args.instance)
    deployment = costs.deployment_for(spec.name, instance)
    prices = costs.load_prices(args.prices or costs.PRICES)
    priced = costs.price_measured(
        spec.name, measurements, uploads_per_month=args.uploads_per_month, deployment=deployment, prices=prices
    )
    report = _report(spec.title, priced, measurements=measurements, prices=prices, deployment=deployment,
                     uploads=args.uploads_per_month)  # fmt: skip
    report["assumptions"] = _assumptions(source, skipped=logs.skipped_lines, measurements=measurements, where=where,
                                         instance=instance, deployment=deployment, prices=prices)  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(_text(report))
    return EXIT_OK


def _outputs(spec: registry.ProviderSpec, workdir: Path | None, *, required: bool) -> dict[str, Any]:
    try:
        return deployment_outputs(spec.name, workdir or spec.deploy_folder)
    except ConfigError:
        if required:
            raise
    except Exception as exc:  # no terraform, no state: a file of logs is enough without a deployment
        if required:
            raise ConfigError(f"cannot read the deployment's Terraform outputs: {exc}") from exc
    return {}


def _read_files(paths: Sequence[Path]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        try:
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise ConfigError(f"--from-logs {path}: {exc.strerror or exc}") from None
    return lines


def _profile_of(outputs: Mapping[str, Any], spec: registry.ProviderSpec) -> Callable[[str], str | None] | None:
    """The profile of a key under the deployment's settings (for lines that name none), when it has profiles."""
    settings = {k: str(v) for k, v in (outputs.get("thumbs_environment") or {}).items() if k.startswith("THUMBS_")}
    if not settings.get("THUMBS_PROFILES"):
        return None
    config = load_config(settings, extra_settings=spec.function_settings)

    def profile_of(key: str) -> str | None:
        profile = config.profiles.profile_for(key)
        return profile.name if profile else None

    return profile_of


def billed_instance(
    spec: registry.ProviderSpec, outputs: Mapping[str, Any], given: Sequence[str]
) -> tuple[dict[str, str], str]:
    """The billed size: ``--instance``, else the ``cost_inputs`` output, else the Terraform defaults."""
    from core.reports.concepts import terraform_default, terraform_facts, terraform_text

    instance = {str(k): str(v) for k, v in ((outputs.get("cost_inputs") or {}).get("instance") or {}).items()}
    where = "the deployment's Terraform outputs (cost_inputs)"
    facts = terraform_facts(spec.name) if not instance else None
    if facts is not None:
        text = terraform_text(spec.deploy_folder)
        for label, variable in facts.instance_variables.items():
            value = terraform_default(text, variable)
            if value is not None:
                instance[label] = value
        where = f"the defaults of {spec.deploy_dir}/ (no deployment outputs read)"
    for pair in given:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--instance {pair!r} is not valid; accepted values: KEY=VALUE")
        instance[key.strip()] = value.strip()
        where = "--instance"
    return instance, where


def _report(
    title: str, priced: Sequence[Any], *, measurements: Any, prices: Any, deployment: Any, uploads: float
) -> dict[str, Any]:
    profiles = []
    for cost in priced:
        m = cost.measure
        profiles.append({
            "profile": m.profile,
            "share": round(measurements.share(m.profile), 4),
            "uploads_measured": m.uploads,
            "events_per_upload": round(m.events_per_upload, 3),
            "duration_ms": {"p50": round(m.percentile_ms(50), 1), "p95": round(m.percentile_ms(95), 1),
                            "mean": round(m.mean_ms, 1)},
            "billed_s_per_event": round(cost.billed_s, 4),
            "thumbnails_per_upload": round(m.written / m.uploads, 3) if m.uploads else 0,
            "kb_per_upload": round(m.written_bytes / m.uploads / 1024, 2) if m.uploads else 0,
            "statuses": dict(m.statuses),
            "peak_memory_mb": m.peak_memory_mb,
            "uploads_per_month": round(cost.uploads, 1),
            "events_per_month": round(cost.events, 1),
            "lines": [{"item": line.item, "quantity": line.quantity, "unit": line.price.unit,
                       "cost": round(line.cost, 4)} for line in cost.lines],
            "total": round(cost.total, 4),
        })  # fmt: skip
    return {
        "cloud": title,
        "uploads_per_month": uploads,
        "currency": prices.currency,
        "profiles": profiles,
        "total": round(sum(cost.total for cost in priced), 2),
        "billed_memory_gb": deployment.memory_gb,
    }


def _assumptions(
    source: str, *, skipped: int, measurements: Any, where: str, instance: Mapping[str, str], deployment: Any,
    prices: Any,
) -> list[str]:  # fmt: skip
    lines = [
        f"Measured: {sum(m.events for m in measurements.profiles.values())} created events of "
        f"{measurements.uploads} uploads in {source} ({skipped} other lines ignored; {measurements.deleted_events} "
        "delete events not priced: a delete costs a few metadata requests).",
        "The uploads of the month split between profiles as measured; each upload costs the events measured per "
        "upload (redeliveries and retries included), each event its own duration as the function logged it "
        "(duration_ms: the event's work, not the cold start or a batch's overhead), rounded up as the cloud "
        f"bills (per {deployment.granularity_ms:g} ms"
        + (f", {deployment.minimum_ms:g} ms at least" if deployment.minimum_ms else "")
        + ").",
        f"Billed size: {', '.join(f'{k}={v}' for k, v in instance.items()) or 'the pricing defaults'} from {where} "
        f"({deployment.memory_gb:g} GB" + (f", {deployment.cpu:g} vCPU" if deployment.cpu else "") + "): the cloud "
        "bills the configured memory, whatever the render used (the peak, where the platform logs it, is shown).",
        "Storage requests per event as the lock-in report models them (HEAD and GET of the original, a HEAD per "
        "output, a PUT per thumbnail written), with the measured thumbnails written per event; the month's new "
        "thumbnails stored a whole month; originals, egress and logs left out.",
        f"Prices: {prices.as_of} list prices in {prices.currency}, no free tier or discount ({prices.regions}).",
    ]
    few = [name for name, m in measurements.profiles.items() if m.events < FEW_SAMPLES]
    if few:
        lines.append(f"Few samples (< {FEW_SAMPLES} events) for {', '.join(few)}: a rough estimate.")
    return lines


def _text(report: Mapping[str, Any]) -> str:
    out = [f"{report['cloud']}: {report['uploads_per_month']:,.0f} uploads a month -> "
           f"{report['total']:,.2f} {report['currency']} a month"]  # fmt: skip
    for profile in report["profiles"]:
        memory = f", peak {profile['peak_memory_mb']:g} MB" if profile["peak_memory_mb"] else ""
        duration = profile["duration_ms"]
        out.append(
            f"  profile {profile['profile']}: {profile['share']:.1%} of uploads, {profile['events_per_upload']:g} "
            f"events per upload, {duration['p50']:g} ms p50 / {duration['p95']:g} ms p95 (billed "
            f"{profile['billed_s_per_event']:g} s each){memory}, {profile['thumbnails_per_upload']:g} thumbnails and "
            f"{profile['kb_per_upload']:g} KB per upload -> {profile['total']:,.2f} {report['currency']}"
        )
        out += [f"      {line['item']}: {line['quantity']:,.1f} {line['unit']} = {line['cost']:,.4f}"
                for line in profile["lines"]]  # fmt: skip
    out.append("assumptions:")
    out += [f"  - {line}" for line in report["assumptions"]]
    return "\n".join(out)
