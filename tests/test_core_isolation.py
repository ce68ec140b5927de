"""The core never imports a cloud SDK, and settings load without Pillow (cold start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import registry

ROOT = Path(__file__).parents[1]


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_check_isolation_script_passes_here() -> None:
    result = subprocess.run(
        [sys.executable, "tests/check_isolation.py"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "imports no cloud SDK" in result.stdout


def test_loading_settings_does_not_import_pillow() -> None:
    # Namespace-package .pth files may pre-load bare `google`; measure against an empty interpreter.
    sdk_roots = {module.split(".")[0] for spec in registry.providers().values() for module in spec.sdk_modules}
    assert sdk_roots, "no provider descriptor was found"
    watched = repr(("PIL", *sorted(sdk_roots)))
    listing = f"print(sorted(m for m in sys.modules if m.split('.')[0] in {watched}))"
    baseline = _run(f"import sys; {listing}")
    modules = "core.config, core.pipeline, core.runtime, core.keys, core.storage, core.ops.runner"
    out = _run(f"import sys, {modules}; {listing}")
    assert out == baseline
