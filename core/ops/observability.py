"""Generate every cloud's dashboards, metric definitions and alerts from the metric table (``core/metrics.py``).

Each provider that offers it (its descriptor's ``observability`` module) turns :data:`core.metrics.METRICS`,
the alert thresholds and the runaway detector (:mod:`core.alerts`) into Terraform of its own cloud, written into
its deploy folder and committed; a test fails while a committed file differs from what this writes, so the table
stays the one source.

    python -m core.ops.observability           # write the files
    python -m core.ops.observability --check   # exit 1, naming them, if a file is out of date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core import registry


def generated() -> dict[Path, str]:
    """Every generated file's path and content, for every provider that has an observability module."""
    files: dict[Path, str] = {}
    for spec in registry.providers().values():
        if not spec.observability:
            continue
        module = registry.resolve(spec.observability, hint=spec.install_hint)
        folder = spec.deploy_folder
        for name, text in module.generate().items():
            files[folder / name] = text
    return files


def stale() -> list[Path]:
    """The generated files whose committed content differs from what would be written."""
    return [path for path, text in generated().items() if not path.is_file() or path.read_text("utf-8") != text]


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or, with ``--check``, compare) the generated files."""
    parser = argparse.ArgumentParser(prog="python -m core.ops.observability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for path in outdated:
            print(f"out of date: {path} (run python -m core.ops.observability)", file=sys.stderr)
        return 1 if outdated else 0
    for path, text in generated().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
