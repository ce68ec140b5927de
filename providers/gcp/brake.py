"""``polythumb brake gcp`` / ``release gcp``: the brake's steps (:mod:`providers.gcp.brake_steps`) through ``gcloud``.

The operator's commands run ``gcloud`` (authenticated, with the rights to update the subscriptions and write
the code bucket), each command echoed; the automatic brake runs the same steps over REST
(:mod:`providers.gcp.brake_function`). How the brake works, what it records and what it does not cover:
:mod:`providers.gcp.brake_steps`.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.ops.deploy import Terraform
from providers.gcp.brake_steps import (
    DEFAULT_ATTRIBUTES,
    LABEL,
    RECORD_PREFIX,
    RETENTION,
    RETENTION_SECONDS,
    Deployment,
    SubscriptionBrake,
    Transport,
    label_value,
)

__all__ = [
    "BRAKE",
    "DEFAULT_ATTRIBUTES",
    "LABEL",
    "RECORD_PREFIX",
    "RETENTION",
    "RETENTION_SECONDS",
    "Deployment",
    "EventarcBrake",
    "GcloudTransport",
    "Transport",
    "label_value",
    "restore_argv",
]  # fmt: skip


def restore_argv(subscription: str, push: Mapping[str, Any]) -> list[str]:
    """The ``gcloud`` command that gives ``subscription`` the push configuration ``push`` back."""
    argv = ["gcloud", "pubsub", "subscriptions", "modify-push-config", subscription,
            f"--push-endpoint={push['pushEndpoint']}"]  # fmt: skip
    token = push.get("oidcToken") or {}
    if token.get("serviceAccountEmail"):
        argv.append(f"--push-auth-service-account={token['serviceAccountEmail']}")
        if token.get("audience"):
            argv.append(f"--push-auth-token-audience={token['audience']}")
    if "noWrapper" in push:
        argv.append("--push-no-wrapper")
        if (push.get("noWrapper") or {}).get("writeMetadata"):
            argv.append("--push-no-wrapper-write-metadata")
    return argv


class GcloudTransport:
    """:class:`Transport` through ``gcloud``, each command echoed (the operator's commands).

    Args:
        run: Stands in for :func:`subprocess.run` (tests).
    """

    def __init__(self, *, run: Callable[..., Any] = subprocess.run) -> None:
        self._cli = Terraform(Path.cwd(), binary="gcloud", run=run)  # its tool/capture run any command

    def trigger(self, name: str) -> Mapping[str, Any]:
        described: dict[str, Any] = json.loads(
            self._cli.capture(["gcloud", "eventarc", "triggers", "describe", name, "--format=json"])
        )
        return described

    def subscription(self, name: str) -> dict[str, Any]:
        described: dict[str, Any] = json.loads(
            self._cli.capture(["gcloud", "pubsub", "subscriptions", "describe", name, "--format=json"])
        )
        return described

    def update_subscription(
        self,
        name: str,
        *,
        set_label: tuple[str, str] | None = None,
        remove_label: str | None = None,
        retention: str | None = None,
    ) -> None:
        flags = [f"--update-labels={set_label[0]}={set_label[1]}"] if set_label else []
        flags += [f"--remove-labels={remove_label}"] if remove_label else []
        flags += [f"--message-retention-duration={retention}"] if retention else []
        self._cli.tool(["gcloud", "pubsub", "subscriptions", "update", name, *flags])

    def push_to(self, name: str, push: Mapping[str, Any]) -> None:
        if push.get("pushEndpoint"):
            self._cli.tool(restore_argv(name, push))
        else:
            self._cli.tool(["gcloud", "pubsub", "subscriptions", "modify-push-config", name, "--push-endpoint="])

    def write_record(self, url: str, text: str) -> None:
        with tempfile.TemporaryDirectory(prefix="polythumb-brake-") as scratch:
            path = Path(scratch) / "record.json"
            path.write_text(text, encoding="utf-8")
            self._cli.tool(["gcloud", "storage", "cp", str(path), url])

    def read_record(self, url: str) -> str:
        return self._cli.capture(["gcloud", "storage", "cat", url])

    def remove_record(self, url: str) -> None:
        self._cli.tool(["gcloud", "storage", "rm", url])


class EventarcBrake(SubscriptionBrake):
    """The brake of one deployment, through ``gcloud`` unless given another transport.

    Args:
        run: Stands in for :func:`subprocess.run` (tests) in the ``gcloud`` transport.
        transport: How to reach Google Cloud (default: :class:`GcloudTransport`).
    """

    def __init__(self, *, run: Callable[..., Any] = subprocess.run, transport: Transport | None = None) -> None:
        super().__init__(transport or GcloudTransport(run=run))

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """Raises: ConfigError: there is no emulator of Eventarc and Pub/Sub's administration here."""
        raise ConfigError("polythumb brake gcp works through gcloud against the project; --endpoint is not offered")


BRAKE = EventarcBrake()
