"""``polythumb brake|release azure``: the brake of :mod:`providers.azure.brake_core`, driven through ``az``.

The person running the command is logged in with ``az``; its ``az rest`` (the Event Grid subscription) and
``az functionapp`` (the app) are this brake's management plane, and the backfill's queue clients (your Entra
ID login) its queues. The automatic brake (:mod:`providers.azure.brake_function`) runs the same
:class:`~providers.azure.brake_core.HoldingBrake` through Resource Manager's REST API instead.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.ops.deploy import DeployFailed, Terraform
from providers.azure.brake_core import (  # noqa: F401  (re-exported: the brake's vocabulary)
    API_VERSION,
    ARM,
    AZURITE_KEY,
    CONNECTION,
    LABEL,
    Deployment,
    HoldingBrake,
    event_text,
    held_delivery,
    is_held,
    record_of,
    with_code,
    without_code,
)


class AzCli:
    """The management plane through ``az`` (``az rest``, ``az functionapp``), each command echoed.

    Args:
        run: Stands in for :func:`subprocess.run` (tests).
    """

    def __init__(self, *, run: Callable[..., Any] = subprocess.run) -> None:
        self._cli = Terraform(Path.cwd(), binary="az", run=run)  # its tool/capture run any command

    def _url(self, resource_id: str, action: str = "") -> str:
        return f"{ARM}{resource_id}{action}?api-version={API_VERSION}"

    def get(self, resource_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self._cli.capture(["az", "rest", "--method", "get", "--url",
                                                                self._url(resource_id)]))  # fmt: skip
        return answer

    def put(self, resource_id: str, properties: Mapping[str, Any]) -> None:
        """PUT the whole subscription (the body may hold a webhook key: a file, never an argument)."""
        with tempfile.TemporaryDirectory(prefix="polythumb-brake-") as scratch:
            body = Path(scratch) / "subscription.json"
            body.write_text(json.dumps({"properties": properties}), encoding="utf-8")
            self._cli.capture(["az", "rest", "--method", "put", "--url", self._url(resource_id), "--body", f"@{body}"])

    def full_url(self, resource_id: str) -> str:
        url = self._url(resource_id, "/getFullUrl")
        return str(json.loads(self._cli.capture(["az", "rest", "--method", "post", "--url", url]))["endpointUrl"])

    def app_state(self, app_id: str) -> str:
        return self._cli.capture(["az", "functionapp", "show", "--ids", app_id, "--query", "state", "--output", "tsv"])

    def set_app_state(self, app_id: str, *, running: bool) -> None:
        self._cli.tool(["az", "functionapp", "start" if running else "stop", "--ids", app_id])

    def blobs_extension_key(self, app_id: str) -> str:
        argv = ["az", "functionapp", "keys", "list", "--ids", app_id, "--query", "systemKeys.blobs_extension",
                "--output", "tsv"]  # fmt: skip
        key = self._cli.capture(argv).strip()
        if not key:
            name = app_id.rstrip("/").rsplit("/", 1)[-1]
            raise DeployFailed(f"{name} has no blobs_extension key to authorise the webhook with")
        return key


def backfill_queue(connection: str, name: str, environ: Mapping[str, str]) -> Any:
    """The backfill's queue client (base64 on send, as ``on_backfill_queue`` reads): the operator's queues."""
    from providers.azure.backfill import queue_client

    return queue_client(connection_name=connection, queue_name=name, environ=environ)


class EventGridBrake(HoldingBrake):
    """The brake of ``polythumb brake|release azure``: ``az`` for the subscription and the app, the SDK for the
    queues.

    Args:
        run: Stands in for :func:`subprocess.run` (tests).
        queues: ``(connection name, queue name, environ) -> QueueClient``; the backfill's, by default.
    """

    def __init__(
        self, *, run: Callable[..., Any] = subprocess.run, queues: Callable[..., Any] | None = None
    ) -> None:  # fmt: skip
        super().__init__(plane=AzCli(run=run), queues=queues or backfill_queue)


BRAKE = EventGridBrake()
