"""Bytecode in the cloud packages, so a cold start imports polythumb instead of compiling it.

A function's code directory is read-only (Lambda's ``/var/task``, a mounted Azure package) or rebuilt for
every instance (a Cloud Functions container), so Python cannot keep the bytecode it compiles: without
``.pyc`` files every cold start compiles every module it imports again. For polythumb's runtime that is
~390 KiB of source, about 115 ms of CPU before the first event (measured on the AWS package), against a
cold-start budget of 50 ms over Pillow + the SDK + one client.

The packagers therefore ship ``__pycache__/<module>.cpython-<XY>.pyc`` beside each module, compiled by an
interpreter of the runtime's Python version (bytecode is specific to a minor version; a file with another
tag is ignored, so a wrong guess costs nothing but the bytes). They are *checked-hash* pycs: valid while
the source's hash matches, whatever the modification times a zip, an unzip or a build step gives the
files, and rebuilt in memory, never trusted stale, if someone edits a source in place. They hold no
timestamp, so the same sources still give byte-identical packages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: How long compiling a package may take (a few hundred modules take a few seconds).
_TIMEOUT_S = 300


@dataclass(frozen=True)
class Compiled:
    """What compiling a package's sources gave: the interpreter used, or why there is no bytecode."""

    python_version: str
    interpreter: str | None
    problem: str | None = None


def interpreter_for(python_version: str) -> str | None:
    """A Python ``python_version`` (``"3.11"``) interpreter: this one if it is that version, else
    ``python<version>`` on PATH if it runs and says it is that version (a pyenv shim may not); None when
    there is none."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python_version:
        return sys.executable
    candidate = shutil.which(f"python{python_version}")
    if candidate is None:
        return None
    probe = [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    try:
        completed = subprocess.run(probe, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return None
    return candidate if completed.returncode == 0 and completed.stdout.strip() == python_version else None


def compile_directory(directory: Path, *, python_version: str) -> Compiled:
    """Compile every ``.py`` under ``directory`` in place into checked-hash pycs for ``python_version``.

    A file that does not compile keeps no pyc (it could not be imported either); the result names it.
    """
    interpreter = interpreter_for(python_version)
    if interpreter is None:
        return Compiled(python_version, None, f"no Python {python_version} interpreter here")
    for stale in directory.rglob("__pycache__"):
        shutil.rmtree(stale)  # only ours, with one known invalidation mode, may ship
    # -s: the paths recorded in the code objects are relative (the import system puts the real one back
    # at load time), so the bytes do not depend on where the package was staged.
    command = [
        interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash",
        "-s", str(directory), str(directory),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=_TIMEOUT_S)
    if completed.returncode != 0:
        detail = (completed.stdout + completed.stderr).strip().splitlines()
        return Compiled(python_version, interpreter, f"compileall failed: {' / '.join(detail[-3:]) or 'no output'}")
    return Compiled(python_version, interpreter)


def with_bytecode(files: Mapping[str, bytes], *, python_version: str) -> tuple[dict[str, bytes], Compiled]:
    """``files`` (archive path -> bytes) plus the pycs of their ``.py`` files, and how they were compiled.

    Only the modules' own pycs are added (``a/b.py`` -> ``a/__pycache__/b.cpython-XY.pyc``); without an
    interpreter for ``python_version`` the files come back unchanged.
    """
    with tempfile.TemporaryDirectory(prefix="polythumb-bytecode-") as tmp:
        root = Path(tmp)
        for name, data in files.items():
            if name.endswith(".py"):
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        compiled = compile_directory(root, python_version=python_version)
        pycs = {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*.pyc"))}
    return {**files, **pycs}, compiled


def describe(names: list[str], *, python_version: str) -> str:
    """One line for a packager's output: how many of the archive's modules carry bytecode for the runtime."""
    tag = f".cpython-{python_version.replace('.', '')}.pyc"
    modules = sum(name.endswith(".py") for name in names)
    compiled = sum(name.endswith(tag) for name in names)
    if compiled:
        return f"bytecode for Python {python_version}: {compiled} of {modules} modules (checked-hash)"
    why = "no Python {v} interpreter here" if interpreter_for(python_version) is None else "compiling failed"
    return (
        f"no bytecode ({why.format(v=python_version)}): each cold start compiles the sources (~115 ms of CPU "
        f"on AWS); package with Python {python_version}, or with python{python_version} on PATH"
    )
