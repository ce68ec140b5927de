"""The Azure-specific settings, and nothing else: their declarations, defaults and how they are read.

Everything generic is a ``THUMBS_*`` setting of :mod:`core.vocabulary`. Azure adds three, declared here once
(:class:`core.settings.Setting`) and listed in the descriptor's ``function_settings``, so the runtime
accepts and validates them and the documentation's configuration reference shows them:

* ``THUMBS_SOURCE_CONTAINER`` -- the container the blob trigger watches (its binding path is
  ``%THUMBS_SOURCE_CONTAINER%/{name}``, which the Functions host resolves from this app setting);
  when set, the Event Grid route also acknowledges and skips events of any other container.
* ``THUMBS_STORAGE_CONNECTION`` -- the *name* of the connection the images live behind, in the
  Azure Functions sense (default ``AzureWebJobsStorage``): an app setting holding a connection
  string, or identity-based settings ``<name>__blobServiceUri`` / ``<name>__accountName``.
* ``THUMBS_BACKFILL_QUEUE`` -- the Storage Queue of backfill work items (default ``polythumb-backfill``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.settings import Pattern, Setting

DEFAULT_CONNECTION = "AzureWebJobsStorage"
DEFAULT_QUEUE = "polythumb-backfill"

# Azure container and queue names: 3-63 characters, lower-case letters, digits and single hyphens,
# starting and ending with a letter or digit.
_NAME = r"(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*"
_NAME_RULE = "3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit"
#: A container's name, as Azure accepts it.
CONTAINER_NAME = Pattern(_NAME, f"a container name: {_NAME_RULE}")
#: A queue's name, as Azure accepts it.
QUEUE_NAME = Pattern(_NAME, f"a queue name: {_NAME_RULE}")

SOURCE_CONTAINER = Setting(
    "THUMBS_SOURCE_CONTAINER",
    CONTAINER_NAME,
    meaning="The container the blob trigger watches: its path is `%THUMBS_SOURCE_CONTAINER%/{name}`, which the "
    "Functions host resolves, so set it even for the Event Grid route; Event Grid events of other containers "
    "are acknowledged and skipped.",
)
STORAGE_CONNECTION = Setting(
    "THUMBS_STORAGE_CONNECTION",
    # A connection name is an app-setting name; the host also reads "<name>__<property>" children.
    Pattern(r"(?!.*__)[A-Za-z_][A-Za-z0-9_.]*", "the name of an app setting (letters, digits, '_' and '.', no '__')"),
    default=DEFAULT_CONNECTION,
    meaning="The name of the connection the images live behind, in the Functions sense: an app setting holding a "
    "connection string, or identity-based `<name>__blobServiceUri` / `<name>__accountName` settings.",
)
BACKFILL_QUEUE = Setting(
    "THUMBS_BACKFILL_QUEUE",
    QUEUE_NAME,
    default=DEFAULT_QUEUE,
    meaning="The Storage Queue (on the images connection) that `on_backfill_queue` reads and "
    "`polythumb backfill --target azure` sends work items to.",
)


@dataclass(frozen=True)
class AzureSettings:
    """The Azure-only settings the function needs to start, validated."""

    source_container: str | None = None
    connection_name: str = DEFAULT_CONNECTION


def load_azure_settings(environ: Mapping[str, str]) -> AzureSettings:
    """Read and validate the Azure-only settings.

    Raises:
        ConfigError: naming the setting and what it accepts.
    """
    return AzureSettings(
        source_container=SOURCE_CONTAINER.read(environ), connection_name=STORAGE_CONNECTION.read(environ)
    )


# -- the backfill queue (here, not in backfill.py, so the app indexes it without importing the backfill) --


def backfill_queue_name(environ: Mapping[str, str]) -> str:
    """The backfill queue's name: ``THUMBS_BACKFILL_QUEUE``, default ``polythumb-backfill``.

    Raises:
        ConfigError: not a valid queue name.
    """
    name: str = BACKFILL_QUEUE.read(environ)
    return name


def checked_queue_name(name: str, where: str) -> str:
    """``name`` if Azure accepts it as a queue name, else a ConfigError naming ``where``."""
    checked: str = QUEUE_NAME.parse(where, name)
    return checked


def function_timeout(environ: Mapping[str, str]) -> float | None:
    """Seconds one invocation may run: ``functionTimeout`` of the app's ``host.json`` (None: unknown or unlimited).

    The worker does not tell an invocation what it has left, so completion events are published within
    this (see :class:`core.completion.window.PublishWindow`), counted from the invocation's start.
    """
    import json
    from pathlib import Path

    for folder in (environ.get("AzureWebJobsScriptRoot"), str(Path(__file__).parent)):
        host = Path(folder) / "host.json" if folder else None
        if host is None or not host.is_file():
            continue
        try:
            value = str(json.loads(host.read_text("utf-8")).get("functionTimeout", ""))
        except (OSError, ValueError, AttributeError):
            return None
        match = re.fullmatch(r"(?:(\d+)\.)?(\d\d?):(\d\d):(\d\d)", value)
        if not match:
            return None  # absent, or -1 (no limit)
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    return None


# -- the automatic brake (deploy/brake.tf, brake_on_runaway) ------------------------------------------------------
# Here, not in brake_function.py, so the app decides at indexing whether to register the brake's function without
# importing it (the event functions' cold start never loads the brake).

#: The runaway detector's alert rules the automatic brake acts on, comma-separated (Terraform's
#: local.runaway_alert_names); unset: no brake function is registered.
BRAKE_ALERTS = "BRAKE_ALERTS"
#: The deployment the brake acts on: the JSON of the Terraform output ``brake`` (deploy/brake.tf), these fields.
BRAKE_DEPLOYMENT = "BRAKE_DEPLOYMENT"
BRAKE_DEPLOYMENT_FIELDS = (
    "function_app_id", "event_subscription_id", "images_account_id", "queue_endpoint", "held_queue", "backfill_queue",
)  # fmt: skip
#: Resource Manager's endpoint (a sovereign cloud's); by default the public one.
BRAKE_MANAGEMENT_ENDPOINT = "BRAKE_MANAGEMENT_ENDPOINT"
#: Hosts a bearer token may be sent to over plain HTTP: this machine only (a stand-in, an emulator).
_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/.*)?")


def checked_management_endpoint(value: str) -> str:
    """``value`` if a bearer token may be sent there: an ``https://`` URL, or ``http://`` to this machine.

    Raises:
        ConfigError: naming :data:`BRAKE_MANAGEMENT_ENDPOINT`.
    """
    if not (value.startswith("https://") or _LOOPBACK.fullmatch(value)):
        raise ConfigError(f"{BRAKE_MANAGEMENT_ENDPOINT} must be an https:// URL, not {value[:80]!r}")
    return value.rstrip("/")


def brake_settings(environ: Mapping[str, str]) -> tuple[frozenset[str], dict[str, Any]]:
    """The rules the automatic brake watches (Azure rule names hold no comma) and the Terraform output it acts on.

    Raises:
        ConfigError: ``BRAKE_ALERTS`` names no rule, ``BRAKE_DEPLOYMENT`` is no JSON object of every field, or
            ``BRAKE_MANAGEMENT_ENDPOINT`` is no https:// URL (naming the setting).
    """
    names = frozenset(name.strip() for name in environ.get(BRAKE_ALERTS, "").split(",") if name.strip())
    if not names:
        raise ConfigError(f"{BRAKE_ALERTS} names no alert rule: the automatic brake would never act")
    try:
        deployment = json.loads(environ.get(BRAKE_DEPLOYMENT) or "")
    except ValueError:
        deployment = None
    if not isinstance(deployment, dict):
        raise ConfigError(f"{BRAKE_DEPLOYMENT} is not the JSON object of the Terraform output brake")
    missing = [name for name in BRAKE_DEPLOYMENT_FIELDS if not isinstance(deployment.get(name), str)]
    if missing:
        raise ConfigError(f"{BRAKE_DEPLOYMENT} lacks {', '.join(missing)}: apply the current deploy files")
    if environ.get(BRAKE_MANAGEMENT_ENDPOINT):
        checked_management_endpoint(environ[BRAKE_MANAGEMENT_ENDPOINT])
    return names, deployment
