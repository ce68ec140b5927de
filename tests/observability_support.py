"""What the observability checks of every cloud share: reading the generated Terraform as Terraform reads it,
and comparing a cloud's reading of the log lines with the metric table's (:func:`core.metrics.measure`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from core.metrics import METRICS, Measurement, measure
from tests.terraform import ROOT, Module, block, blocks, load_module

_INTERPOLATION = re.compile(r"(?<!\$)\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def deploy_module(cloud: str) -> Module:
    """Every block of a cloud's Terraform stack."""
    return load_module(ROOT / "providers" / cloud / "deploy")


def hcl_text(value: str) -> str:
    """A string attribute as python-hcl2 keeps it (a quoted literal's escapes, or a heredoc), as Terraform
    reads it, interpolations left in."""
    if value.startswith("<<"):
        lines = value.split("\n")
        return "\n".join(lines[1:-1]) + "\n"
    return str(json.loads(f'"{value}"'))


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``${expression}`` replaced by ``values[expression]`` (an unknown one fails)."""

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert expression in values, f"an interpolation the test does not know: ${{{expression}}}"
        return values[expression]

    return _INTERPOLATION.sub(replace, text).replace("$${", "${").replace("%%{", "%{")


def resource(module: Module, kind: str, name: str) -> dict[str, Any]:
    return block(module, "resource", kind, name)


def resources(module: Module, kind: str) -> dict[str, dict[str, Any]]:
    return dict(blocks(module, "resource", kind))


def key(measurement: Measurement) -> tuple[str, float, tuple[tuple[str, str], ...]]:
    """A measurement as a comparable value."""
    return measurement.metric, round(measurement.value, 6), tuple(sorted(measurement.attributes.items()))


def expected(lines: Iterable[Mapping[str, Any]]) -> Counter[tuple[str, float, tuple[tuple[str, str], ...]]]:
    """Every measurement the metric table derives from ``lines``."""
    return Counter(key(measurement) for line in lines for measurement in measure(line))


def every_metric_read(found: Counter[tuple[str, float, tuple[tuple[str, str], ...]]]) -> None:
    """Each metric of the table has at least one measurement (a definition that reads nothing fails)."""
    read = {metric for metric, _, _ in found}
    assert read == {metric.name for metric in METRICS}, (
        f"metrics no line feeds: {sorted({m.name for m in METRICS} - read)}"
    )


def metric_names(text: str) -> set[str]:
    """Every ``polythumb.<name>`` a dashboard's text mentions."""
    return set(re.findall(r"polythumb(?:\.[a-z_]+)+", text))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def variables(cloud: str, **overrides: float) -> dict[str, str]:
    """Each ``var.<name>`` of a cloud's stack with a default, as its interpolated text (``overrides``: given
    values, as ``terraform.tfvars`` would set them)."""
    found: dict[str, str] = {}
    for item in deploy_module(cloud).get("variable", []):
        for name, body in item.items():
            if name in overrides:
                found[f"var.{name}"] = str(overrides[name])
            elif isinstance(body.get("default"), int | float) and not isinstance(body.get("default"), bool):
                found[f"var.{name}"] = str(body["default"])
    return found
