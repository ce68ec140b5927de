"""Bar charts as PNG bytes, with matplotlib when it is installed (it is optional, imported lazily).

Without matplotlib every function returns ``None`` and :data:`MISSING` says why, which the HTML
prints in the chart's place.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Mapping, Sequence

from core.reports.facts import clouds, reporting

MISSING = "matplotlib is not installed (pip install matplotlib); the numbers are in the table above"

#: Bars of the columns that are not providers (whose colours are in their reporting facts).
_COLOURS = {"local": "#6e7781", "memory": "#afb8c1"}
_OTHER = "#8c959f"


def _colour(label: str) -> str:
    if label in _COLOURS or label not in clouds():
        return _COLOURS.get(label, _OTHER)
    return str(reporting(label).get("colour", _OTHER))


def available() -> bool:
    """Whether charts can be drawn here."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a broken or half-installed matplotlib: no charts rather than no report
        return False


def bars(
    title: str,
    values: Mapping[str, float],
    *,
    unit: str,
    stacks: Mapping[str, Sequence[float]] | None = None,
    stack_labels: Sequence[str] = (),
) -> bytes | None:
    """A bar per key of ``values`` (or stacked bars from ``stacks``: key -> one value per stack label)."""
    if not available():
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory only
    from matplotlib import pyplot

    labels = list(values)
    figure, axes = pyplot.subplots(figsize=(7.0, 3.4), dpi=110)
    try:
        if stacks:
            bottoms = [0.0] * len(labels)
            for index, stack in enumerate(stack_labels):
                heights = [stacks[label][index] for label in labels]
                axes.bar(labels, heights, bottom=bottoms, label=stack)
                bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
            axes.legend(fontsize=8, frameon=False)
        else:
            axes.bar(
                labels, [values[label] for label in labels], color=[_colour(label) for label in labels]
            )
        for index, label in enumerate(labels):
            axes.annotate(f"{values[label]:,.2f}", (index, values[label]), ha="center", va="bottom", fontsize=8)
        axes.set_title(title, fontsize=11)
        axes.set_ylabel(unit)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)
