"""Run with plain `python` after `pip install .` (no extras, no pytest): the core stands alone.

1. Every module under ``core`` imports, and no cloud SDK ends up in ``sys.modules``.
2. With ``--expect-absent`` (the nox ``isolation`` session), the SDKs are not even installed.
3. ``polythumb run`` renders thumbnails for a small directory through the real console entry point.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import pkgutil
import sys
import tempfile
from pathlib import Path


def cloud_sdks() -> list[str]:
    """Every provider's SDK modules, from the providers' own descriptors (importing those loads no SDK)."""
    from core import registry

    return [module for spec in registry.providers().values() for module in spec.sdk_modules]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def main() -> int:
    # Run as a script, this file's folder leads sys.path, and its ``providers`` (the provider tests) would
    # shadow the real one: look packages up as an installed polythumb would.
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    baseline = set(sys.modules)  # namespace-package .pth files may pre-load a bare `google`
    import core

    for info in pkgutil.walk_packages(core.__path__, "core."):
        importlib.import_module(info.name)
    sdks = cloud_sdks()
    assert sdks, "no provider descriptor was found"
    roots = {s.split(".")[0] for s in sdks}
    loaded = sorted(m for m in set(sys.modules) - baseline if m.split(".")[0] in roots)
    assert not loaded, f"core imported cloud SDK modules: {loaded}"

    if "--expect-absent" in sys.argv:
        installed = [name for name in sdks if _installed(name)]
        assert not installed, f"cloud SDKs installed in an isolation environment: {installed}"

    from PIL import Image

    from core.ops.cli import main as polythumb

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "src"), Path(tmp, "out")
        (src / "nested").mkdir(parents=True)
        Image.new("RGB", (640, 480), (200, 30, 30)).save(src / "nested" / "red.jpg")
        Image.new("RGBA", (300, 300), (0, 0, 255, 128)).save(src / "blue.png")
        status = polythumb(["run", str(src), "--out", str(out), "--no-progress", "--workers", "1"])
        assert status == 0, f"polythumb run exited {status}"
        made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if ".polythumb" not in p.parts)
        assert made == ["blue-256x256.png", "nested", "nested/red-256x256.jpg"], made
        with Image.open(io.BytesIO((out / "nested" / "red-256x256.jpg").read_bytes())) as thumb:
            assert thumb.size == (256, 192), thumb.size
    print("isolation: core imports no cloud SDK and renders thumbnails on its own")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
