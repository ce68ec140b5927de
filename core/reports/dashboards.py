"""Pictures of each cloud's dashboard, drawn from its generated definition and real local figures.

Each provider's observability module describes its dashboard's panels (position, metric, grouping,
statistics) as read from the very document its Terraform deploys; this draws them with matplotlib, filled with
the measurements of a local sample: the bundled corpus copied into a watched folder in rounds and rendered
through the delivery path (``upload_to_ready`` from each copy's mtime, one round with completion events that
cannot be published), each round one 5-minute window of the charts. The numbers are this machine's; the
layout, the titles and what each panel groups by are the dashboard's.

    python -m core.reports.dashboards --out docs/images   # needs matplotlib (the reports extra)
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core import registry
from core.alerts import RUNAWAY
from core.metrics import BY_NAME, measure
from core.ops.stats import percentile

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"
ROUNDS = 6
WINDOW = 5  # minutes per round, as the dashboards align


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            self.lines.append(dict(fields))


def sample(rounds: int = ROUNDS) -> list[list[dict[str, Any]]]:
    """The log lines of ``rounds`` local rounds over the corpus (a list per round)."""
    from core.config import load_config
    from core.delivery import deliver
    from core.events import ObjectEvent
    from core.ops.runner import _iso, local_runtime

    found = []
    with tempfile.TemporaryDirectory() as scratch:
        src, out = Path(scratch) / "src", Path(scratch) / "out"
        src.mkdir()
        for number in range(rounds):
            settings = {"THUMBS_DEST_BUCKET": str(out), "THUMBS_SIZES": "512x512,128x128"}
            if number == rounds - 2:  # one window whose completion events cannot be published
                settings["THUMBS_NOTIFY"] = "file:/dev/null/events.jsonl"
            runtime = local_runtime(load_config(settings))
            capture = _Capture()
            runtime.logger.addHandler(capture)
            runtime.logger.setLevel(logging.INFO)
            try:
                for path in sorted(CORPUS.iterdir()):
                    if path.suffix in (".md", ".json", ".tsv") or path.stat().st_size > 8 * 2**20:
                        continue
                    key = f"round-{number}/{path.name}"
                    (src / key).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, src / key)
                    event = ObjectEvent.created(str(src), key, event_time=_iso((src / key).stat().st_mtime_ns))
                    deliver(runtime, lambda event=event: event, route="local")  # type: ignore[misc]
                    if number == 1 and path.name.startswith("png"):  # a duplicate delivery: skipped, unchanged
                        deliver(runtime, lambda event=event: event, route="local")  # type: ignore[misc]
            finally:
                runtime.logger.removeHandler(capture)
            found.append(capture.lines)
    return found


def _values(lines: Sequence[Mapping[str, Any]], panel: Mapping[str, Any]) -> list[Any]:
    metric = BY_NAME[panel["metric"]]
    wanted = panel.get("where", {})
    return [
        m for line in lines for m in measure(line)
        if m.metric == metric.name and all(m.attributes.get(k) == v for k, v in wanted.items())
    ]  # fmt: skip


def draw(
    title: str, panels: Sequence[Mapping[str, Any]], rounds: Sequence[Sequence[Mapping[str, Any]]], path: Path
) -> None:
    """Draw one dashboard's panels, filled from ``rounds`` of lines, into the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = panels[0]["grid"]
    rows = max(p["y"] + p["h"] for p in panels)
    figure = plt.figure(figsize=(14, max(6.0, 14 * rows / grid * (0.5 if grid == 48 else 0.9))), dpi=70)
    layout = figure.add_gridspec(rows, grid, hspace=6.0, wspace=4.0)
    figure.suptitle(title, fontsize=13, x=0.01, ha="left")
    windows = [f"-{(len(rounds) - i) * WINDOW}m" for i in range(len(rounds))]
    for panel in panels:
        axes = figure.add_subplot(layout[panel["y"] : panel["y"] + panel["h"], panel["x"] : panel["x"] + panel["w"]])
        _panel(axes, panel, rounds, windows)
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)


def _panel(
    axes: Any, panel: Mapping[str, Any], rounds: Sequence[Sequence[Mapping[str, Any]]], windows: list[str]
) -> None:
    """Draw one panel on ``axes``."""
    everything = [line for lines in rounds for line in lines]
    label = re.sub(r"\$\{[^}]*\}", "demo", panel["title"])  # a deployment's name, interpolated by Terraform
    if panel["kind"] != "text":
        axes.set_title(label, fontsize=9, loc="left")
    axes.tick_params(labelsize=7)
    kind = panel["kind"]
    if kind == "text":
        axes.axis("off")
        axes.text(0, 0.5, label, fontsize=12, va="center", weight="bold")
    elif kind == "table":
        axes.axis("off")
        failed = [line for line in everything if line.get("status") in ("failed", "error")][-8:]
        text = "\n".join(f"{str(line.get('key', ''))[:48]:<50} {line.get('status', ''):<7} {line.get('error_kind', '')}"
                         for line in failed)  # fmt: skip
        axes.text(0, 1, text or "(none)", fontsize=8, va="top", family="monospace")
    elif kind == "runaway":
        detector = next(d for d in RUNAWAY if d.name == panel["detector"])
        counts: Counter[tuple[str, ...]] = Counter()
        for line in everything:
            if all(c.holds(line) for c in detector.where):
                counts[tuple(str(line.get(field, "")) for field in detector.per)] += 1
        top = counts.most_common(6)
        axes.barh([source[1][-32:] for source, _ in top][::-1], [n for _, n in top][::-1], color="#6e7781")
        axes.set_xlim(0, detector.threshold.default + 1)
        axes.axvline(detector.threshold.default, color="#cf222e", linestyle="--", linewidth=1)
    elif kind in ("counter", "mean"):
        group = panel.get("group_by")
        series: dict[str, list[float]] = {}
        for index, lines in enumerate(rounds):
            for m in _values(lines, panel):
                label = m.attributes.get(group, "(none)") if group else "all"
                series.setdefault(label, [0.0] * len(rounds))
                series[label][index] += m.value
            if kind == "mean":
                sizes = Counter(m.attributes.get(group, "(none)") if group else "all" for m in _values(lines, panel))
                for name, count in sizes.items():
                    series[name][index] /= count
        bottom = [0.0] * len(rounds)
        for label, values in sorted(series.items()):
            if kind == "counter":
                axes.bar(windows, values, bottom=bottom, label=label)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            else:
                axes.plot(windows, values, marker="o", label=label)
        axes.legend(fontsize=7, loc="upper left")
    elif kind == "percentiles":
        for point in panel["stats"]:
            values = []
            for lines in rounds:
                found = [m.value for m in _values(lines, panel)]
                values.append(percentile(found, point) if found else float("nan"))
            axes.plot(windows, values, marker="o", label="max" if point == 100 else f"p{point}")
        axes.legend(fontsize=7, loc="upper left")


def main(argv: Sequence[str] | None = None) -> int:
    """Draw every provider's dashboard into ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m core.reports.dashboards", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rounds = sample(args.rounds)
    for spec in registry.providers().values():
        if not spec.observability:
            continue
        module = registry.resolve(spec.observability, hint=spec.install_hint)
        path = args.out / f"dashboard-{spec.name}.png"
        draw(f"{spec.title}: the generated dashboard, filled with a local sample", module.panels(), rounds, path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
