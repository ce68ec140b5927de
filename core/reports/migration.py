"""What moving between clouds takes: the configuration mapping, the deploy files, the data commands.

The configuration is one vocabulary (``THUMBS_*``, :data:`core.config.SETTINGS`) everywhere; what
differs is read from each provider's code and Terraform (:mod:`core.reports.concepts`). The copy
commands use each cloud's own tool, as each provider declares them (:mod:`core.reports.facts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.config import SETTINGS
from core.reports.concepts import Concepts
from core.reports.facts import clouds, reporting

LOCAL = "local"
#: The originals on this machine, in the commands below.
LOCAL_PHOTOS = "./photos"


def places() -> tuple[str, ...]:
    """Where the originals can be: this machine, then every provider."""
    return (LOCAL, *clouds())


def _migration(place: str) -> Mapping[str, Any]:
    facts: Mapping[str, Any] = reporting(place).get("migration", {})
    return facts


def copy_command(source: str, target: str) -> str:
    """The command that copies the originals from ``source`` to ``target`` (placeholders in capitals).

    Each provider declares how originals come in (``copy_in``, by source) and go out to this machine
    (``download``); with no direct command, the copy goes through this machine.
    """
    if source == target:
        return "(same place)"
    src = LOCAL_PHOTOS if source == LOCAL else _migration(source)["old"]
    if target == LOCAL:
        return str(_migration(source)["download"]).format(src=src)
    facts = _migration(target)
    dst = facts["new"]
    template = facts["copy_in"].get(source) or facts["copy_in"].get("*")
    if template is None:
        download = copy_command(source, LOCAL)
        return f"{download} && {copy_command(LOCAL, target)}" if source != LOCAL else f"(no command for {target})"
    return str(template).format(src=src, dst=dst)


def backfill_command(target: str) -> str:
    """Render the thumbnails of everything already in the new place (``polythumb backfill``)."""
    if target == LOCAL:
        return "polythumb backfill ./photos --out ./thumbs"
    default = f"polythumb backfill NEW-ORIGINALS --out NEW-THUMBNAILS --target {target}"
    return str(_migration(target).get("backfill", default))


def configuration_rows(concepts: Mapping[str, Concepts]) -> list[list[str]]:
    """One row per setting: the THUMBS_* vocabulary first, then provider-only and platform settings."""
    rows = []
    for name in SETTINGS:
        cells = []
        for provider in clouds():
            c = concepts.get(provider)
            if c is not None and name in c.terraform_settings:
                cells.append(f"Terraform sets `{c.terraform_settings[name]}`")
            elif c is not None and c.settings_variable:
                cells.append("default, or `thumbs_settings`")
            else:
                cells.append("default")
        rows.append([f"`{name}`", "every cloud, and `polythumb run/watch`", *cells])
    for provider, c in concepts.items():
        for name in c.provider_only_settings:
            rows.append(
                [f"`{name}`", f"{provider} only", *(("yes" if p == provider else "-") for p in clouds())]
            )
    return rows


def platform_rows(concepts: Mapping[str, Concepts]) -> list[list[str]]:
    """Settings each platform itself needs (connections, runtime switches), from code and Terraform."""
    return [
        [provider, ", ".join(f"`{name}`" for name in c.platform_settings) or "-"] for provider, c in concepts.items()
    ]


def deploy_rows(concepts: Mapping[str, Concepts]) -> list[list[str]]:
    """The files to swap: Terraform, packaging, host files; and the command that builds the artefact."""
    return [
        [
            provider,
            f"`polythumb package {provider}`",
            ", ".join(f"`{f}`" for f in c.deploy_files),
            str(len(c.resources)),
        ]
        for provider, c in concepts.items()
    ]


def data_rows() -> list[list[str]]:
    """from -> to: the copy of the originals, then the thumbnails."""
    rows = []
    for source in places():
        for target in places():
            if source != target:
                rows.append([source, target, f"`{copy_command(source, target)}`", f"`{backfill_command(target)}`"])
    return rows


def divergent_settings(concepts: Mapping[str, Concepts]) -> list[str]:
    """Core settings one Terraform sets and another leaves at its default: carry them over when moving."""
    notes = []
    for name in SETTINGS:
        setting = {
            provider: c.terraform_settings[name] for provider, c in concepts.items() if name in c.terraform_settings
        }
        if setting and len(setting) < len(concepts):
            others = [provider for provider in concepts if provider not in setting]
            where = "; ".join(f"{provider} sets `{value}`" for provider, value in setting.items())
            notes.append(
                f"`{name}`: {where}; left at the default on {', '.join(others)}. Carry the value over "
                "when moving, or the new deployment behaves differently."
            )
    return notes
