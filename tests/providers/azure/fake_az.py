"""A stand-in ``az`` on PATH for the tests of ``polythumb deploy|verify azure`` and of the Terraform's
``local-exec``: it records its arguments and keeps one app's settings in a file.

``functionapp config appsettings list`` answers with those settings, through ``--query`` (JMESPath, as
``az`` evaluates it) and ``--output json|tsv``; ``... delete --setting-names N...`` removes them. It tests
polythumb's commands and its reading of the answers, not Azure.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

SCRIPT = r"""#!{python}
import json, os, sys

import jmespath

args = sys.argv[1:]
with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\n")


def option(name, default=None):
    return args[args.index(name) + 1] if name in args else default


if args[:3] == ["functionapp", "config", "appsettings"]:
    status = int(os.environ.get("FAKE_AZ_STATUS", "0"))
    if status:
        sys.stderr.write("ERROR: (AuthorizationFailed) the client has no authorization to read app settings\n")
        sys.exit(status)
    state = os.environ["FAKE_AZ_STATE"]
    with open(state, encoding="utf-8") as handle:
        names = json.load(handle)
    if args[3] == "delete":
        gone = set(args[args.index("--setting-names") + 1 :])
        with open(state, "w", encoding="utf-8") as handle:
            json.dump([name for name in names if name not in gone], handle)
        sys.exit(0)
    settings = [{{"name": name, "value": "...", "slotSetting": False}} for name in names]
    query = option("--query")
    result = jmespath.search(query, settings) if query else settings
    if option("--output", "json") == "tsv":
        print("\n".join(str(item) for item in result))
    else:
        print(json.dumps(result))
"""


def install(bin_dir: Path, *, names: Sequence[str], status: int = 0) -> tuple[dict[str, str], Path]:
    """Write ``bin_dir/az`` for an app with settings ``names``; returns the environment that puts it first on
    PATH, and the log of its calls (``status`` non-zero: every app-settings call fails with it).
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "az"
    script.write_text(SCRIPT.format(python=sys.executable), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    state = bin_dir / "az-settings.json"
    state.write_text(json.dumps(list(names)), encoding="utf-8")
    log = bin_dir / "az.log"
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_AZ_LOG": str(log),
        "FAKE_AZ_STATE": str(state),
        "FAKE_AZ_STATUS": str(status),
    }
    return environment, log


def settings(environment: dict[str, str]) -> list[str]:
    """The names of the app's settings now."""
    return list(json.loads(Path(environment["FAKE_AZ_STATE"]).read_text(encoding="utf-8")))


def calls(log: Path) -> list[list[str]]:
    """The argument lists ``az`` was called with, in order."""
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
