"""What moving between clouds takes: the configuration mapping, the deploy files, the data commands.

The configuration is one vocabulary (``THUMBS_*``, :data:`core.config.SETTINGS`) everywhere; what
differs is read from each provider's code and Terraform (:mod:`core.reports.concepts`). The copy
commands use each cloud's own tool: ``aws s3 sync``, ``gcloud storage rsync``, ``azcopy``.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.config import SETTINGS
from core.reports.concepts import Concepts

PLACES = ("local", "aws", "gcp", "azure")

#: The originals' bucket on the cloud being left, and on the new one, in the commands below.
URL = {
    "local": "./photos",
    "aws": "s3://OLD-ORIGINALS",
    "gcp": "gs://OLD-ORIGINALS",
    "azure": "https://OLDACCOUNT.blob.core.windows.net/originals",
}
TARGET = {
    "local": "./photos",
    "aws": "s3://NEW-ORIGINALS",
    "gcp": "gs://NEW-ORIGINALS",
    "azure": "https://NEWACCOUNT.blob.core.windows.net/originals",
}


def copy_command(source: str, target: str) -> str:
    """The command that copies the originals from ``source`` to ``target`` (placeholders in capitals)."""
    src, dst = URL[source], TARGET[target]
    if source == target:
        return "(same place)"
    if target == "aws":
        if source in ("local", "aws"):
            return f"aws s3 sync {src} {dst}"
        if source == "gcp":
            return f"gcloud storage rsync --recursive {src} {dst}   # gcloud reads AWS credentials for s3:// URLs"
        return f"azcopy copy '{src}' ./staging --recursive && aws s3 sync ./staging {dst}"
    if target == "gcp":
        if source == "azure":
            return (
                f"gcloud transfer jobs create {src} {dst} --source-creds-file=azure-sas.json"
                "   # Storage Transfer Service"
            )
        return f"gcloud storage rsync --recursive {src} {dst}"
    if target == "azure":
        if source == "local":
            return f"azcopy sync {src} '{dst}' --recursive"
        if source == "aws":
            return f"azcopy copy 'https://s3.amazonaws.com/OLD-ORIGINALS' '{dst}' --recursive   # AWS_ACCESS_KEY_ID set"
        if source == "gcp":
            return (
                f"azcopy copy 'https://storage.cloud.google.com/OLD-ORIGINALS' '{dst}' --recursive"
                "   # GOOGLE_APPLICATION_CREDENTIALS set"
            )
    # target == "local"
    if source == "aws":
        return f"aws s3 sync {src} ./photos"
    if source == "gcp":
        return f"gcloud storage rsync --recursive {src} ./photos"
    return f"azcopy sync '{src}' ./photos --recursive"


def backfill_command(target: str) -> str:
    """Render the thumbnails of everything already in the new place (``polythumb backfill``)."""
    if target == "local":
        return "polythumb backfill ./photos --out ./thumbs"
    if target == "azure":
        return "polythumb backfill originals --out thumbnails --target azure"
    return f"polythumb backfill NEW-ORIGINALS --out NEW-THUMBNAILS --target {target}"


def configuration_rows(concepts: Mapping[str, Concepts]) -> list[list[str]]:
    """One row per setting: the THUMBS_* vocabulary first, then provider-only and platform settings."""
    rows = []
    for name in SETTINGS:
        cells = []
        for provider in ("aws", "gcp", "azure"):
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
                [f"`{name}`", f"{provider} only", *(("yes" if p == provider else "-") for p in ("aws", "gcp", "azure"))]
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
    for source in PLACES:
        for target in PLACES:
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
