"""The run as one PNG: time per input for each approach, peak memory, and entrypoint import times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Results = dict[str, Any]
_SERIES = (
    ("floor_256", "decode floor (256)"),
    ("seed_256", "seed, 1 size"),
    ("polythumb_256", "polythumb, 1 size"),
    ("ref_256", "libvips direct, 1 size"),
    ("seed_x3", "seed x3 sizes"),
    ("polythumb_x3", "polythumb, 3 sizes"),
)
_MEMORY = (
    ("seed_256", "seed, 1 size"),
    ("polythumb_256", "polythumb, 1 size"),
    ("pillow_x3", "Pillow engine, 3 sizes"),
    ("vips_x3", "libvips engine, 3 sizes"),
)


def write_chart(results: Results, path: Path) -> Path:
    """Draws the chart to ``path`` (PNG) and returns it.

    Raises:
        ImportError: matplotlib is not installed (``nox -s bench`` installs it).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    photos = results["photos"]
    names = [photo["name"] for photo in photos]
    panels = 3 if results.get("imports") else 2
    figure, axes = plt.subplots(panels, 1, figsize=(12, 4.2 * panels))
    _bars(axes[0], names, [[_get(p, key, "median_ms") for p in photos] for key, _ in _SERIES],
          [label for _, label in _SERIES], "ms (median, log scale)", log=True)  # fmt: skip
    _bars(axes[1], names, [[_get(p, key, "peak_rss_mb") for p in photos] for key, _ in _MEMORY],
          [label for _, label in _MEMORY], "peak RSS, MB over idle")  # fmt: skip
    if panels == 3:
        providers = [entry["provider"] for entry in results["imports"]]
        _bars(axes[2], providers, [[entry[key] for entry in results["imports"]] for key in ("entry_ms", "floor_ms")],
              ["entrypoint import", "floor: Pillow + SDK + client"], "ms (median)")  # fmt: skip
    meta = results["meta"]
    figure.suptitle(f"polythumb benchmark ({meta['suite']}, {meta['repeats']} rounds; {meta['machine']}; "
                    f"Pillow {meta['pillow']}, libvips {meta['libvips'] or 'absent'})")  # fmt: skip
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _get(photo: Results, case: str, field: str) -> float:
    value = photo["cases"].get(case, {}).get(field)
    return float(value) if value is not None else 0.0


def _bars(axis: Any, groups: list[str], series: list[list[float]], labels: list[str], ylabel: str,
          *, log: bool = False) -> None:  # fmt: skip
    width = 0.8 / len(series)
    for index, (values, label) in enumerate(zip(series, labels, strict=True)):
        positions = [group + (index - (len(series) - 1) / 2) * width for group in range(len(groups))]
        axis.bar(positions, values, width, label=label)
    axis.set_xticks(range(len(groups)), groups, rotation=15, ha="right")
    axis.set_ylabel(ylabel)
    if log:
        axis.set_yscale("log")
    axis.legend(fontsize="small", ncols=3)
    axis.grid(axis="y", alpha=0.3)
