"""The packages ship checked-hash bytecode, so a cold start imports polythumb instead of compiling it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.ops import bytecode

THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
TAG = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
SOURCES = {
    "pkg/__init__.py": b"",
    "pkg/answer.py": b"VALUE = 41 + 1\n",
    "requirements.txt": b"Pillow==11.0.0\n",
}


def test_every_module_gets_a_checked_hash_pyc_and_the_bytes_do_not_depend_on_the_staging_place() -> None:
    first, compiled = bytecode.with_bytecode(SOURCES, python_version=THIS_PYTHON)
    second, _ = bytecode.with_bytecode(SOURCES, python_version=THIS_PYTHON)

    assert compiled.problem is None and compiled.interpreter == sys.executable
    pycs = {name for name in first if name.endswith(".pyc")}
    assert pycs == {f"pkg/__pycache__/__init__.{TAG}.pyc", f"pkg/__pycache__/answer.{TAG}.pyc"}
    assert {name: first[name] for name in SOURCES} == SOURCES  # the sources themselves are untouched
    # PEP 552 flags: bit 0 hash-based, bit 1 check the source (a timestamp pyc would be ignored or trusted stale
    # once a zip or a build step rewrote the modification times).
    assert {int.from_bytes(first[name][4:8], "little") for name in pycs} == {0b11}
    assert first == second  # the code objects record relative paths: reproducible packages


def _import_verbosely(root: Path) -> subprocess.CompletedProcess[str]:
    """``import pkg.answer`` by a bare interpreter from a read-only ``root``, as a function host does."""
    environ = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(root)}
    command = [sys.executable, "-S", "-v", "-c", "import pkg.answer; print(pkg.answer.VALUE)"]
    return subprocess.run(command, env=environ, capture_output=True, text=True, check=True, timeout=60)


def test_an_unpacked_package_imports_the_shipped_bytecode_and_an_edited_source_still_wins(tmp_path: Path) -> None:
    files, _ = bytecode.with_bytecode(SOURCES, python_version=THIS_PYTHON)
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        for name, data in files.items():
            writer.writestr(name, data)
    root = tmp_path / "task"
    with zipfile.ZipFile(archive) as reader:
        reader.extractall(root)  # fresh modification times: a timestamp pyc would no longer match

    shipped = _import_verbosely(root)
    assert shipped.stdout.strip() == "42"
    assert f"pkg/__pycache__/answer.{TAG}.pyc matches" in shipped.stderr

    (root / "pkg" / "answer.py").write_text("VALUE = 7\n")  # edited in place (a console edit, a hot fix)
    edited = _import_verbosely(root)
    assert edited.stdout.strip() == "7"  # checked against the source's hash: never run stale
    assert f"pkg/__pycache__/answer.{TAG}.pyc matches" not in edited.stderr


def test_without_an_interpreter_of_the_runtime_version_the_package_keeps_its_sources_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pyenv shim on PATH answers to the name but cannot run that version: it must not count.
    shim = tmp_path / "python3.98"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.98: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    assert bytecode.interpreter_for("3.98") is None
    files, compiled = bytecode.with_bytecode(SOURCES, python_version="3.98")
    assert files == SOURCES
    assert compiled.interpreter is None and "no Python 3.98" in (compiled.problem or "")
    line = bytecode.describe(sorted(files), python_version="3.98")
    assert line.startswith("no bytecode (no Python 3.98 interpreter here)") and "python3.98 on PATH" in line


def test_describe_counts_the_modules_with_bytecode_for_the_runtime() -> None:
    files, _ = bytecode.with_bytecode(SOURCES, python_version=THIS_PYTHON)
    assert bytecode.describe(sorted(files), python_version=THIS_PYTHON) == (
        f"bytecode for Python {THIS_PYTHON}: 2 of 2 modules (checked-hash)"
    )
