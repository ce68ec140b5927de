"""The Azure-specific settings, and nothing else: names, defaults and how they are read.

Everything generic is a ``THUMBS_*`` setting of :mod:`core.config`. Azure adds two, passed to
:class:`core.runtime.FunctionRuntime` as ``extra_settings`` so the core does not reject them:

* ``THUMBS_SOURCE_CONTAINER`` -- the container the blob trigger watches (its binding path is
  ``%THUMBS_SOURCE_CONTAINER%/{name}``, which the Functions host resolves from this app setting);
  when set, the Event Grid route also acknowledges and skips events of any other container.
* ``THUMBS_STORAGE_CONNECTION`` -- the *name* of the connection the images live behind, in the
  Azure Functions sense (default ``AzureWebJobsStorage``): an app setting holding a connection
  string, or identity-based settings ``<name>__blobServiceUri`` / ``<name>__accountName``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import ConfigError

SOURCE_CONTAINER = "THUMBS_SOURCE_CONTAINER"
STORAGE_CONNECTION = "THUMBS_STORAGE_CONNECTION"
DEFAULT_CONNECTION = "AzureWebJobsStorage"

#: The THUMBS_* names this provider reads itself (``extra_settings`` of the runtime).
EXTRA_SETTINGS = (SOURCE_CONTAINER, STORAGE_CONNECTION)

# Azure container names: 3-63 characters, lower-case letters, digits and single hyphens,
# starting and ending with a letter or digit.
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
# A connection name is an app-setting name; the host also reads "<name>__<property>" children.
_CONNECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class AzureSettings:
    """The Azure-only settings, validated."""

    source_container: str | None = None
    connection_name: str = DEFAULT_CONNECTION


def load_azure_settings(environ: Mapping[str, str]) -> AzureSettings:
    """Read and validate the Azure-only settings.

    Raises:
        ConfigError: naming the setting and what it accepts.
    """
    source = (environ.get(SOURCE_CONTAINER) or "").strip() or None
    if source is not None and not is_container_name(source):
        raise ConfigError(
            f"{SOURCE_CONTAINER}={source!r} is not a valid container name; accepted values: 3-63 lower-case "
            "letters, digits and single hyphens, starting and ending with a letter or digit"
        )
    connection = (environ.get(STORAGE_CONNECTION) or "").strip() or DEFAULT_CONNECTION
    if not _CONNECTION_NAME.match(connection) or "__" in connection:
        raise ConfigError(
            f"{STORAGE_CONNECTION}={connection!r} is not valid; accepted values: the name of an app setting "
            f"(letters, digits, '_' and '.', no '__'), default {DEFAULT_CONNECTION}"
        )
    return AzureSettings(source_container=source, connection_name=connection)


def is_container_name(name: str) -> bool:
    """Whether ``name`` is a valid Azure Blob container name."""
    return bool(_CONTAINER_NAME.match(name))


# -- the backfill queue (here, not in backfill.py, so the app indexes it without importing the backfill) --

QUEUE_SETTING = "THUMBS_BACKFILL_QUEUE"
DEFAULT_QUEUE = "polythumb-backfill"
_QUEUE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")


def backfill_queue_name(environ: Mapping[str, str]) -> str:
    """The backfill queue's name: ``THUMBS_BACKFILL_QUEUE``, default ``polythumb-backfill``.

    Raises:
        ConfigError: not a valid queue name.
    """
    return checked_queue_name((environ.get(QUEUE_SETTING) or "").strip() or DEFAULT_QUEUE, QUEUE_SETTING)


def checked_queue_name(name: str, where: str) -> str:
    """``name`` if Azure accepts it as a queue name, else a ConfigError naming ``where``."""
    if not _QUEUE_NAME.match(name):
        raise ConfigError(
            f"{where}={name!r} is not a valid queue name; accepted values: 3-63 lower-case letters, digits and "
            "single hyphens, starting and ending with a letter or digit"
        )
    return name


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
