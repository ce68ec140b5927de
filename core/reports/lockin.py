"""``polythumb lockin``: the vendor lock-in report a team can put in front of a decision.

Sections, each measured rather than written: portable versus provider-specific code (source tree);
the provider-specific concepts each provider needs (its code and Terraform); the conformance matrix
(run now, or ``--matrix`` a previous ``conformance.json``); cold-start cost per entrypoint (fresh
interpreters); end-to-end latency on the emulators (the conformance run); a monthly cost estimate
for the workload given by flags (measured render, dated price table ``prices.json``, every
assumption printed); and what moving between clouds takes. Writes ``lockin.md``, ``lockin.html``
(charts inlined) and the charts as PNG files to ``--out`` (default ``reports/lockin/``).

Usage::

    python -m core.reports.lockin [--out DIR] [--matrix FILE] [--images-per-month N] [--mean-mb MB]
                                  [--sizes 128x128,512x512] [--prices FILE] [--repeat N]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core import registry
from core.reports import charts, coldstart, conformance, costs, migration
from core.reports.coldstart import ColdStart
from core.reports.concepts import Concepts, provider_concepts
from core.reports.document import Block, Bullets, Code, Heading, Image, Table, Text, document_html, document_markdown
from core.reports.facts import clouds, reporting
from core.reports.matrix import (
    Latency,
    Matrix,
    build_matrix,
    cell_text,
    e2e_latency,
    load_results,
    observed_values,
    suites,
)
from core.reports.source_metrics import Layer, measure_layers, portable_share
from core.reports.workload import DEFAULT_BYTES_PER_PIXEL, RenderSample, Workload, measure_render

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = Path("reports") / "lockin"
TITLE = "polythumb vendor lock-in report"



@dataclass
class Findings:
    """Everything the report shows."""

    layers: list[Layer]
    concepts: dict[str, Concepts]
    matrix: Matrix | None
    matrix_source: str
    cold: list[ColdStart]
    latency: list[Latency]
    workload: Workload
    render: RenderSample
    estimates: list[costs.Estimate]
    assumptions: list[str]
    prices: costs.PriceTable


def installed(entrypoint: str) -> bool:
    """Whether ``entrypoint``'s SDK and runtime are importable here."""
    try:
        needs = () if entrypoint == coldstart.LOCAL else registry.get(entrypoint).sdk_modules
        return all(importlib.util.find_spec(module) is not None for module in needs)
    except ModuleNotFoundError:
        return False


# -- sections ---------------------------------------------------------------------------------


def code_section(f: Findings) -> list[Block]:
    rows = [
        [
            layer.name,
            "yes" if layer.portable else "no",
            layer.code.files,
            layer.code.lines,
            layer.tests.files,
            layer.tests.lines,
            layer.deploy.files,
            layer.deploy.lines,
        ]
        for layer in f.layers
    ]
    shares = [
        f"{cloud}: {portable_share(f.layers, cloud):.0%} of the function code it runs is the portable core"
        for cloud in clouds()
    ]
    return [
        Heading("Portable versus provider-specific code"),
        Text(
            "Measured from the source tree: files and non-blank lines per layer (comments and docstrings "
            "included). Function code is what runs in the function; deploy is Terraform, packaging and host "
            "files; tests include each provider's vendor payloads. The shared contract and end-to-end suites "
            "belong to the core: they are written once."
        ),
        Table(
            [
                "layer",
                "portable",
                "code files",
                "code lines",
                "test files",
                "test lines",
                "deploy files",
                "deploy lines",
            ],
            rows,
            numeric=(2, 3, 4, 5, 6, 7),
        ),
        Bullets(shares),
    ]


def concepts_section(f: Findings) -> list[Block]:
    metadata = observed_values(f.matrix, "Metadata name `Polythumb-Probe`") if f.matrix else {}
    case = observed_values(f.matrix, "Metadata name case") if f.matrix else {}
    create = observed_values(f.matrix, "Create-only write") if f.matrix else {}
    replace = observed_values(f.matrix, "Replace-only write") if f.matrix else {}
    key = observed_values(f.matrix, "How the key") if f.matrix else {}
    rows = []
    for cloud in clouds():
        c = f.concepts[cloud]
        rows += [
            [cloud, "event types handled", ", ".join(f"`{n}`" for n in c.event_names) or "-"],
            [cloud, "key in the event (observed)", key.get(cloud, "not observed")],
            [cloud, "IAM resources (Terraform)", ", ".join(f"`{r}`" for r in c.iam_resources) or "-"],
            [cloud, "permissions granted (Terraform)", ", ".join(f"`{p}`" for p in c.permissions) or "-"],
            [cloud, "metadata names (observed)", f"{metadata.get(cloud, 'not observed')}; {case.get(cloud, '')}"],
            [
                cloud,
                "conditional write (observed)",
                f"create-only {create.get(cloud, '?')}; replace-only {replace.get(cloud, '?')}",
            ],
            [cloud, "provider-only settings", ", ".join(f"`{s}`" for s in c.provider_only_settings) or "none"],
        ]
    return [
        Heading("Provider-specific concepts each provider needs"),
        Text(
            "Event types from each provider's `events.py`; IAM from its Terraform; the rest as the conformance "
            "tests observed it on the emulators" + ("." if f.matrix else " (no conformance results: not observed).")
        ),
        Table(["provider", "concept", "what it is"], rows),
    ]


def matrix_section(f: Findings) -> list[Block]:
    if f.matrix is None:
        return [Heading("Conformance matrix"), Text(f"Not available: {f.matrix_source}.")]
    blocks: list[Block] = [Heading("Conformance matrix"), Text(f"From {f.matrix_source}.", note=True)]
    for suite, (title, columns, note) in suites().items():
        rows = f.matrix.suite_rows(suite)
        if not rows:
            continue
        cells = [[cell_text(f.matrix, row, column) for column in columns] for row in rows]
        blocks += [
            Heading(title, level=3),
            Text(note, note=True),
            Table(
                ["Behaviour", *columns],
                [[row.behaviour, *(t for t, _ in c)] for row, c in zip(rows, cells, strict=True)],
                classes=[["", *(css for _, css in c)] for c in cells],
            ),
        ]
    return blocks


def cold_section(f: Findings) -> list[Block]:
    rows = []
    for c in f.cold:
        if c.error:
            rows.append([c.entrypoint, f"`{c.module}`", "error", "-", "-", c.error, "-"])
            continue
        families = ", ".join(f"{name} ({n})" for name, n in c.families.items()) or "none"
        isolation = "ok" if not c.foreign else "LOADS " + ", ".join(c.foreign)
        rows.append(
            [
                c.entrypoint,
                f"`{c.module}`",
                f"{c.median_ms:.0f}",
                f"{c.imaging_ms:.0f}",
                f"{c.rss_mb:.0f}" if c.rss_mb else "-",
                f"{len(c.modules)} modules; SDKs: {families}",
                isolation,
            ]
        )
    repeat = max((len(c.samples) for c in f.cold), default=0)
    return [
        Heading("Cold start per entrypoint"),
        Text(
            f"Import of the module the platform loads, in a fresh interpreter (median of {repeat}), with the "
            "settings its cold start needs (each provider declares them, so that its handler and storage client "
            "are built at import as on the platform). First render: importing Pillow and rendering once, which "
            "the first invocation pays on top. Interpreter start-up is not included."
        ),
        Table(
            ["entrypoint", "module", "import ms", "first render ms", "peak RSS MB", "loaded", "other clouds' SDKs"],
            rows,
            numeric=(2, 3, 4),
        ),
        Image(
            "coldstart.png",
            "cold start per entrypoint",
            charts.bars(
                "Cold start: import of the entrypoint (ms, median)",
                {c.entrypoint: c.median_ms or 0.0 for c in f.cold if not c.error},
                unit="ms",
            ),
            charts.MISSING,
        ),
    ]


def latency_section(f: Findings) -> list[Block]:
    if not f.latency:
        return [Heading("End-to-end latency on the emulators"), Text("No end-to-end results.")]
    rows = [
        [
            lat.column,
            f"{lat.passed}/{lat.cases}",
            f"{lat.seconds:.2f}",
            f"{lat.upload_case_s:.2f}" if lat.upload_case_s is not None else "-",
            f"{lat.handler_ms_median:.0f}" if lat.handler_ms_median is not None else "-",
        ]
        for lat in f.latency
    ]
    return [
        Heading("End-to-end latency on the emulators"),
        Text(
            "From the conformance run: the end-to-end cases' measured time per entrypoint, the upload -> "
            "thumbnails case alone, and the median time inside the function per delivery (the Lambda handler "
            "call, the HTTP request to functions-framework, the `on_event_grid` call, the local pipeline call). "
            "Emulators on one machine: compare the entrypoints with each other, not with a cloud."
        ),
        Table(
            ["entrypoint", "cases passed", "all cases s", "upload case s", "function ms per delivery (median)"],
            rows,
            numeric=(2, 3, 4),
        ),
        Image(
            "latency.png",
            "function time per delivery",
            charts.bars(
                "Time inside the function per delivery (ms, median, emulators)",
                {lat.column: lat.handler_ms_median or 0.0 for lat in f.latency},
                unit="ms",
            ),
            charts.MISSING,
        ),
    ]


def cost_section(f: Findings) -> list[Block]:
    w = f.workload
    blocks: list[Block] = [
        Heading("Monthly cost estimate"),
        Text(f"For {w.images_per_month:,} images a month of {w.mean_mb:g} MB on average, sizes `{w.sizes}`."),
    ]
    if f.render.error:
        return [*blocks, Text(f"The render could not be measured: {f.render.error}")]
    summary = [
        [
            e.cloud,
            f"{e.invocation_s * 1000:.0f}",
            f"{e.billed_s * 1000:.0f}",
            f"{e.deployment.memory_gb:g}",
            f"{e.total:,.2f}",
            f"{e.total / max(w.images_per_month, 1) * 1e6:,.2f}",
        ]
        for e in f.estimates
    ]
    blocks.append(
        Table(
            [
                "cloud",
                "modelled ms per image",
                "billed ms",
                "billed memory GB",
                f"{f.prices.currency} per month",
                f"{f.prices.currency} per million images",
            ],
            summary,
            numeric=(1, 2, 3, 4, 5),
        )
    )
    groups = ("compute", "storage ops", "storage", "events")
    stacks = {
        e.cloud: [sum(line.cost for line in e.lines if _group(line.item) == g) for g in groups] for e in f.estimates
    }
    blocks.append(
        Image(
            "cost.png",
            "monthly cost per cloud",
            charts.bars(
                f"Monthly cost ({f.prices.currency}) for {w.images_per_month:,} images",
                {e.cloud: e.total for e in f.estimates},
                unit=f.prices.currency,
                stacks=stacks,
                stack_labels=groups,
            ),
            charts.MISSING,
        )
    )
    for e in f.estimates:
        rows = [
            [
                line.item,
                _number(line.quantity),
                line.price.unit,
                f"{_number(line.price.price)} per {_number(line.price.per)}",
                f"{line.cost:,.4f}",
            ]
            for line in e.lines
        ]
        blocks += [
            Heading(f"{e.cloud}: {f.prices.currency} {e.total:,.2f} a month", level=3),
            Table(["item", "quantity", "unit", "price", "cost"], rows, numeric=(1, 4)),
        ]
    blocks += [Heading("Assumptions", level=3), Bullets(f.assumptions), Heading("Price table", level=3)]
    price_rows = [
        [cloud, name, f"{_number(p.price)} per {_number(p.per)} {p.unit}", p.note, " ".join(p.sources)]
        for cloud in clouds()
        for name, p in f.prices[cloud].items()
    ]
    blocks += [
        Text(f"`core/reports/prices.json`, as of {f.prices.as_of} (edit it, or pass `--prices FILE`)."),
        Table(["cloud", "item", "price", "note", "sources"], price_rows),
    ]
    return blocks


def _number(value: float) -> str:
    """Readable: thousands separators for large numbers, plain decimals (no exponent) for small ones."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.10f}".rstrip("0")


def _group(item: str) -> str:
    lowered = item.lower()
    if "storage of" in lowered:
        return "storage"
    if any(word in lowered for word in ("s3 ", "gcs ", "blob ")):
        return "storage ops"
    if any(word in lowered for word in ("sqs", "pub/sub", "eventarc", "event grid")):
        return "events"
    return "compute"


def _migration_example() -> list[Block]:
    """A move between the first two providers of this install (none with fewer than two)."""
    if len(clouds()) < 2:
        return []
    old, new = clouds()[:2]
    return [
        Code(
            "\n".join(
                [
                    f"# e.g. {old} -> {new}, keeping the thumbnails served during the move:",
                    f"cd providers/{new}/deploy && terraform apply      # the new function, its buckets and trigger",
                    migration.copy_command(old, new),
                    migration.backfill_command(new),
                ]
            )
        ),
    ]


def migration_section(f: Findings) -> list[Block]:
    revision = observed_values(f.matrix, "What the revision is") if f.matrix else {}
    return [
        Heading("Moving from one cloud to another"),
        Heading("Configuration", level=3),
        Text(
            "One vocabulary: every `THUMBS_*` setting of `core/config.py` means the same on every cloud and in "
            "`polythumb run/watch`. What each Terraform sets itself, and what only one provider has:"
        ),
        Table(["setting", "scope", *clouds()], migration.configuration_rows(f.concepts)),
        Bullets(migration.divergent_settings(f.concepts) or ["Every Terraform sets the same core settings."]),
        Text(
            "Settings the platforms themselves need (connections, runtime switches), from each provider's code "
            "and Terraform:"
        ),
        Table(["provider", "platform settings"], migration.platform_rows(f.concepts)),
        Heading("Deploy files to swap", level=3),
        Text("The function code does not change (`core/` is shared); the artefact and the infrastructure do:"),
        Table(
            ["provider", "build the artefact", "deploy files", "Terraform resource types"],
            migration.deploy_rows(f.concepts),
        ),
        Heading("Data", level=3),
        Text(
            "Copy the originals with the target cloud's tool, then render the thumbnails there with "
            "`polythumb backfill` (it lists both sides and renders only what is missing or stale). Copying the "
            "thumbnails as well only helps to serve them during the move: each names the revision of its "
            "original on the old cloud (observed revision: "
            + ("; ".join(f"{c} {v}" for c, v in revision.items() if c != "memory") or "see the matrix")
            + "), and a copied original gets a new revision on the new cloud, so the first event or the backfill "
            "renders it again. polythumb's metadata names are valid on every cloud (lower case, underscores), so "
            "copy tools carry them as they are."
        ),
        Table(["from", "to", "copy the originals", "then the thumbnails"], migration.data_rows()),
        *_migration_example(),
    ]


#: What the serve section says when a provider declares nothing about its serve entrypoint.
_UNDECLARED = "not declared by the provider"


def serve_rows() -> list[list[str]]:
    """Per provider: its serve entrypoint, what may sit in front of it, what moving rebuilds (``serve`` facts)."""
    rows = []
    for cloud in clouds():
        facts = reporting(cloud).get("serve", {})
        rows.append([cloud, facts.get("entrypoint", _UNDECLARED), facts.get("cdn", _UNDECLARED),
                     facts.get("cdn_specific", _UNDECLARED)])  # fmt: skip
    return rows


def serve_section(f: Findings) -> list[Block]:
    """What of serving on first request is portable, and what is the CDN's (issue 23)."""
    return [
        Heading("Serving on first request: what is portable, what is the CDN's"),
        Text(
            "Portable (the core, `core/serve.py`, the same in every cloud's HTTP function and in `polythumb serve`): "
            "which paths are outputs (the key templates read back to their sources), the render on a miss (the "
            "upload path's pipeline, so a request and the upload event write each output once), the answers and "
            "their caching headers (`302` never cached, `404` cached 60 s), the abuse limits, and the signed ad-hoc "
            "URLs (HMAC-SHA256 with `THUMBS_SERVE_KEYS`): a page's `<img src>` paths and every signed URL keep "
            "working after a move, once the new deployment has the same keys and templates."
        ),
        Text(
            "CDN-specific (and so rebuilt when moving): how a miss reaches the function. CloudFront does it with an "
            "origin group (the destination bucket first, the function as failover origin on 403/404), Cloud CDN "
            "and Azure Front Door with their own routing rules; each has its own rules for caching a `404` and a "
            "redirect, its own way to let only the CDN call the function (origin access control, IAM, a header "
            "secret), and its own limits on the response a function may return (Lambda: 6 MB, which is why a "
            "redirect is the default answer). Without a CDN, the function's URL is the thumbnail URL on every cloud."
        ),
        Table(["provider", "serve entrypoint", "in front of it", "CDN-specific"], serve_rows()),
    ]


# -- gathering --------------------------------------------------------------------------------


def gather(args: argparse.Namespace) -> Findings:
    """Measure everything the report shows."""
    root = ROOT
    matrix, source = _matrix(args)
    concepts = {cloud: provider_concepts(root, cloud) for cloud in clouds()}
    entrypoints = [name for name in (coldstart.LOCAL, *clouds()) if installed(name)]
    cold = coldstart.measure_all(root, entrypoints, repeat=args.repeat)
    cold += [
        ColdStart(name, coldstart.entrypoint_module(name), error="SDK not installed here")
        for name in clouds()
        if name not in entrypoints
    ]
    workload = Workload(args.images_per_month, args.mean_mb, args.sizes, args.bytes_per_pixel)
    render = measure_render(root, workload, repeat=args.render_repeat)
    prices = costs.load_prices(args.prices)
    assumptions = costs.Assumptions(request_ms=args.request_ms, cpu_factor=args.cpu_factor)
    deployments = {cloud: costs.deployment_for(cloud, concepts[cloud].instance) for cloud in clouds()}
    estimates = (
        []
        if render.error
        else [
            costs.estimate(
                cloud, workload, render=render, deployment=deployments[cloud], prices=prices, assumptions=assumptions
            )
            for cloud in clouds()
        ]
    )
    return Findings(
        layers=measure_layers(root),
        concepts=concepts,
        matrix=matrix,
        matrix_source=source,
        cold=cold,
        latency=e2e_latency(matrix) if matrix else [],
        workload=workload,
        render=render,
        estimates=estimates,
        assumptions=costs.assumptions_text(workload, render, assumptions, prices, deployments),
        prices=prices,
    )


def _matrix(args: argparse.Namespace) -> tuple[Matrix | None, str]:
    if args.matrix:
        return build_matrix(load_results(args.matrix)), f"`{args.matrix}`"
    if args.no_conformance:
        return None, "--no-conformance was given and no --matrix file"
    status, written = conformance.run(args.out / "conformance")
    if written is None:
        return None, f"the conformance run wrote no results (pytest exit status {status})"
    return written.matrix, f"a conformance run made now (`{written.markdown}`, pytest exit status {status})"


def blocks_of(f: Findings) -> list[Block]:
    """The whole report, in order."""
    isolation = [c.entrypoint for c in f.cold if c.foreign]
    failing = f.matrix.counts()["fail"] if f.matrix else 0
    summary = [
        f"Portable core: {next(layer for layer in f.layers if layer.name == 'core').code.lines:,} lines of function "
        "code shared by every cloud; per cloud: "
        + ", ".join(
            f"{layer.name} {layer.code.lines:,} code + {layer.deploy.lines:,} deploy lines"
            for layer in f.layers
            if not layer.portable
        )
        + ".",
        f"Conformance: {f.matrix.counts()['pass']} cells pass, {failing} fail."
        if f.matrix
        else "Conformance: not run.",
        "Cold start isolation: "
        + ("no entrypoint loads another cloud's SDK." if not isolation else f"VIOLATED by {', '.join(isolation)}."),
    ]
    if f.estimates:
        summary.append(
            "Monthly estimate: "
            + ", ".join(f"{e.cloud} {f.prices.currency} {e.total:,.2f}" for e in f.estimates)
            + f" for {f.workload.images_per_month:,} images (assumptions below)."
        )
    return [
        Heading("Summary"),
        Bullets(summary),
        *code_section(f),
        *concepts_section(f),
        *matrix_section(f),
        *cold_section(f),
        *latency_section(f),
        *cost_section(f),
        *migration_section(f),
        *serve_section(f),
    ]


def write(f: Findings, out: Path) -> tuple[Path, Path]:
    """Write ``lockin.md``, ``lockin.html`` and the chart files; return the two documents."""
    out.mkdir(parents=True, exist_ok=True)
    blocks = blocks_of(f)
    for block in blocks:
        if isinstance(block, Image) and block.png is not None:
            (out / block.filename).write_bytes(block.png)
    markdown, page = out / "lockin.md", out / "lockin.html"
    markdown.write_text(document_markdown(TITLE, blocks), encoding="utf-8")
    page.write_text(document_html(TITLE, blocks), encoding="utf-8")
    return markdown, page


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polythumb lockin", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument(
        "--matrix", type=Path, help="a conformance.json from `polythumb conformance` (else it runs now)"
    )
    parser.add_argument("--no-conformance", action="store_true", help="neither run the suites nor show a matrix")
    parser.add_argument("--images-per-month", type=_positive_int, default=100_000, help="default 100000")
    parser.add_argument("--mean-mb", type=_positive_float, default=3.5, help="mean original size in MB (default 3.5)")
    parser.add_argument(
        "--sizes", default="128x128,512x512", help="THUMBS_SIZES of the workload (default 128x128,512x512)"
    )
    parser.add_argument(
        "--bytes-per-pixel",
        type=_positive_float,
        default=DEFAULT_BYTES_PER_PIXEL,
        help=f"JPEG bytes per pixel, to turn MB into pixels (default {DEFAULT_BYTES_PER_PIXEL})",
    )
    parser.add_argument(
        "--cpu-factor", type=_positive_float, default=1.0, help="a cloud vCPU's render time vs this core"
    )
    parser.add_argument("--request-ms", type=_positive_float, default=15.0, help="one storage round trip (default 15)")
    parser.add_argument(
        "--prices", type=Path, default=costs.PRICES, help="price table (default core/reports/prices.json)"
    )
    parser.add_argument("--repeat", type=_positive_int, default=5, help="cold-start probes per entrypoint (median)")
    parser.add_argument("--render-repeat", type=_positive_int, default=3, help="renders of the workload image (median)")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``polythumb lockin``: 0 written; 1 written, but conformance failed or an entrypoint
    loads another cloud's SDK; 2 unusable input."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        findings = gather(args)
    except (OSError, ValueError) as exc:
        print(f"polythumb lockin: {exc}", file=sys.stderr)
        return 2
    markdown, page = write(findings, args.out)
    print(f"lock-in report -> {markdown}, {page}")
    bad = (findings.matrix is not None and findings.matrix.failed) or any(c.foreign for c in findings.cold)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
