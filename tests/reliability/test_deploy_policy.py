"""Least privilege in the Terraform of every provider (``providers/*/deploy``): checkov, and every skip justified.

Each provider's own least-privilege checks (read with python-hcl2, see :mod:`tests.terraform`) are in
its ``tests/providers/<cloud>/test_deploy.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Provider folder name -> its Terraform, for every provider in the tree.
DEPLOYS = {folder.parent.name: folder for folder in sorted(ROOT.glob("providers/*/deploy"))}
SKIP = re.compile(r"#\s*checkov:skip=(?P<check>[A-Z0-9_]+)(?::(?P<reason>.*))?")


# -- every provider ------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", sorted(DEPLOYS))
def test_every_checkov_skip_is_justified(cloud: str) -> None:
    skips = []
    for path in sorted(DEPLOYS[cloud].glob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP.search(line)
            if match:
                skips.append((f"{path.name}:{number}", match["check"], (match["reason"] or "").strip()))
    unjustified = [(where, check) for where, check, reason in skips if len(reason.split()) < 4]
    assert not unjustified, f"checkov skips without a reason: {unjustified}"


@pytest.mark.slow
@pytest.mark.parametrize("cloud", sorted(DEPLOYS))
def test_checkov_passes(cloud: str) -> None:
    """checkov's Terraform checks (as ``nox -s deploy`` runs them); POLYTHUMB_CHECKOV names the binary."""
    checkov = os.environ.get("POLYTHUMB_CHECKOV") or shutil.which("checkov")
    if not checkov:
        pytest.skip("checkov is not installed here; `nox -s deploy` installs and runs it")
    environ = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(
        [checkov, "--directory", str(DEPLOYS[cloud]), "--framework", "terraform", "--quiet", "--compact",
         "--skip-download"],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Failed checks: 0" in done.stdout
