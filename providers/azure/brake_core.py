"""The brake on Azure: Event Grid redirected to a held Storage Queue, and the function app stopped.

Event Grid subscriptions cannot be paused, and an event that cannot be delivered is retried for at most 24
hours (``deploy/eventgrid.tf``) before it is dead-lettered, or at once on some refusals (a stopped app
answers 403). So the brake does not leave events to meet a stopped app: it first points the Event Grid
subscription at the queue ``polythumb-held`` of the images account (``deploy/brake.tf``), delivered with the
system topic's identity and kept with no expiry (``queueMessageTimeToLiveInSeconds = -1``); delivery to a
queue succeeds, so nothing is retried or dead-lettered. Then it stops the function app, which stops the
backfill queue's consumer too: work items wait in ``polythumb-backfill``, which never expires them either.

Release starts the app (if it ran before), points the subscription back at exactly the destination
recorded, and moves the held events to the backfill queue, where ``on_backfill_queue`` renders them with the
same parser as the Event Grid function (deletions included): each message is sent, then deleted from the held
queue, so a crash repeats an event at most (the pipeline makes a repeat a no-op) and never loses one.

**The record.** The subscription's destination, the app's state and the time are kept as one of the
subscription's own labels (``polythumb-brake:{...}``), written in the same request that redirects it and
removed in the one that restores it: there is no moment when the subscription is redirected without its
record. The management plane (the subscription, the app) is reached through a :class:`ManagementPlane`:
``az`` for a person (:mod:`providers.azure.brake`), Resource Manager's REST API with the app's own managed
identity for the automatic brake (:mod:`providers.azure.brake_arm`, :mod:`providers.azure.brake_function`);
the queues with the Storage SDK and your Entra ID login (``brake_operator_principal_id`` in brake.tf grants
the data roles). A webhook destination (the blob trigger's route) carries the blobs extension key in its
URL: the record keeps the URL without it, and release adds the app's current key back.

This module imports no operator tool (``core.ops``): the automatic brake runs it inside the function app.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.brake import BrakeState, utc_now
from core.errors import ConfigError
from providers.azure.settings import BRAKE_DEPLOYMENT_FIELDS

#: The Event Grid management API version the bodies follow.
API_VERSION = "2022-06-15"
ARM = "https://management.azure.com"
#: The label prefix of the record.
LABEL = "polythumb-brake:"
#: Properties the service sets; never sent back.
READ_ONLY = frozenset({"provisioningState", "topic"})
#: The connection name the brake reaches the images account's queues by, unless THUMBS_STORAGE_CONNECTION says.
CONNECTION = "PolythumbBrake"
#: Messages read from the held queue per request, and how long they stay invisible while being moved.
BATCH, VISIBILITY = 32, 300
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Deployment:
    """What the brake acts on: the Terraform output ``brake`` of ``deploy/brake.tf``."""

    function_app_id: str
    event_subscription_id: str
    images_account_id: str
    queue_endpoint: str
    held_queue: str
    backfill_queue: str

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Deployment:
        """Raises: ConfigError: the output is missing, or the stack has no Event Grid subscription."""
        brake = outputs.get("brake")
        if not isinstance(brake, Mapping) or not brake.get("function_app_id"):
            raise ConfigError("the Terraform outputs lack brake: apply the current deploy files")
        if not brake.get("event_subscription_id"):
            raise ConfigError(
                "the stack has no Event Grid subscription (subscribe_events = false), so no event reaches the app "
                "that a brake could hold: finish `polythumb deploy azure`, or stop the app with `az functionapp stop`"
            )
        return cls(*(str(brake[name]) for name in BRAKE_DEPLOYMENT_FIELDS))

    @property
    def app_name(self) -> str:
        return self.function_app_id.rstrip("/").rsplit("/", 1)[-1]

    @property
    def subscription_name(self) -> str:
        return self.event_subscription_id.rstrip("/").rsplit("/", 1)[-1]


def held_delivery(deployment: Deployment) -> dict[str, Any]:
    """The braked destination: the held queue, written with the system topic's identity, never expiring."""
    return {
        "identity": {"type": "SystemAssigned"},
        "destination": {
            "endpointType": "StorageQueue",
            "properties": {
                "resourceId": deployment.images_account_id,
                "queueName": deployment.held_queue,
                "queueMessageTimeToLiveInSeconds": -1,
            },
        },
    }


def record_of(subscription: Mapping[str, Any]) -> dict[str, Any] | None:
    """The brake's record among the subscription's labels (None: not braked by polythumb)."""
    for label in subscription.get("properties", {}).get("labels") or []:
        if isinstance(label, str) and label.startswith(LABEL):
            record: dict[str, Any] = json.loads(label[len(LABEL) :])
            return record
    return None


def is_held(subscription: Mapping[str, Any], deployment: Deployment) -> bool:
    """Whether the subscription delivers to the held queue now."""
    delivery = subscription.get("properties", {}).get("deliveryWithResourceIdentity") or {}
    destination = delivery.get("destination") or {}
    properties = destination.get("properties") or {}
    return destination.get("endpointType") == "StorageQueue" and properties.get("queueName") == deployment.held_queue


def without_code(url: str) -> str:
    """``url`` without its ``code`` query parameter (a function key: never recorded)."""
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "code"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def with_code(url: str, key: str) -> str:
    """``url`` with ``code=<key>`` added to its query."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("code", key)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def event_text(content: str | bytes) -> str | None:
    """The event JSON of a held message: Event Grid's text as is, or base64 of it; None when it is neither."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    for candidate in (text, _unbase64(text)):
        if candidate is None:
            continue
        try:
            json.loads(candidate)
        except ValueError:
            continue
        return candidate
    return None


def _unbase64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class ManagementPlane(Protocol):
    """How the brake reaches Azure Resource Manager: ``az`` for a person (:mod:`providers.azure.brake`), ARM's
    REST API with the app's managed identity for the automatic brake (:mod:`providers.azure.brake_arm`).

    Each answers as ARM does and raises a :class:`core.errors.PolythumbError` when the call fails.
    """

    def get(self, resource_id: str) -> dict[str, Any]:
        """The Event Grid subscription ``resource_id`` (``GET``, :data:`API_VERSION`)."""
        ...

    def put(self, resource_id: str, properties: Mapping[str, Any]) -> None:
        """Replace the subscription's properties (the body may hold a webhook key: never logged or echoed)."""
        ...

    def full_url(self, resource_id: str) -> str:
        """The subscription's webhook URL with its key (``POST .../getFullUrl``)."""
        ...

    def app_state(self, app_id: str) -> str:
        """The function app's state: ``Running``, ``Stopped``."""
        ...

    def set_app_state(self, app_id: str, *, running: bool) -> None:
        """Start or stop the function app."""
        ...

    def blobs_extension_key(self, app_id: str) -> str:
        """The app's ``blobs_extension`` system key (what a webhook destination is authorised with)."""
        ...


class HoldingBrake:
    """The brake of one deployment: the subscription redirected to the held queue, then the app stopped.

    Args:
        plane: The management plane (subscription and app).
        queues: ``(connection name, queue name, environ) -> QueueClient``; None: the queues are not counted
            and release is refused (the automatic brake, which never releases, has no queue SDK).
    """

    def __init__(self, *, plane: ManagementPlane, queues: Callable[..., Any] | None = None) -> None:
        self._plane = plane
        self._queues = queues

    # -- the three commands (ProviderSpec.brake) -----------------------------------------------------------

    def engage(self, outputs: Mapping[str, Any]) -> BrakeState:
        """Record and redirect the subscription to the held queue (one request), then stop the app."""
        deployment = Deployment.from_outputs(outputs)
        # The app is read before the subscription: a brake running at the same time records (in the
        # subscription) before it stops the app, so an app it already stopped comes with its record, read next.
        state = self._app_state(deployment)
        subscription = self._get(deployment.event_subscription_id)
        record = record_of(subscription)
        if record is None:
            if is_held(subscription, deployment):
                raise ConfigError(
                    f"{deployment.subscription_name} delivers to {deployment.held_queue} with no brake record: "
                    "there is nothing to restore on release, so nothing was changed"
                )
            record = {"since": utc_now(), "app": state, "delivery": self._delivery(deployment, subscription)}
        elif not is_held(subscription, deployment):  # redirected back by someone since: record that instead
            record = {**record, "delivery": self._delivery(deployment, subscription)}
        changes: list[str] = []
        if not is_held(subscription, deployment) or record_of(subscription) != record:
            properties = self._kept(subscription)
            properties["deliveryWithResourceIdentity"] = held_delivery(deployment)
            properties["labels"] = [*_other_labels(subscription), LABEL + json.dumps(record, separators=(",", ":"))]
            self._put(deployment.event_subscription_id, properties)
            changes.append(
                f"redirected {deployment.subscription_name} to the queue {deployment.held_queue}, recording its "
                "destination in a label"
            )
        if state != "Stopped":
            self._plane.set_app_state(deployment.function_app_id, running=False)
            completing = f" (completing the brake recorded at {record.get('since')})" if not changes else ""
            changes.append(f"stopped the function app{completing}")
        return self.status(outputs).with_changes(changes)

    def release(self, outputs: Mapping[str, Any]) -> BrakeState:
        """Start the app (if it ran), restore the recorded destination, then move the held events on."""
        deployment = Deployment.from_outputs(outputs)
        subscription = self._get(deployment.event_subscription_id)
        record = record_of(subscription)
        notes: list[str] = []
        changes: list[str] = []
        if record is not None:
            if record.get("app") == "Running" and self._app_state(deployment) != "Running":
                self._plane.set_app_state(deployment.function_app_id, running=True)
                changes.append("started the function app")
            properties = self._kept(subscription)
            properties.update(self._restored(deployment, record["delivery"]))
            properties["labels"] = _other_labels(subscription)
            self._put(deployment.event_subscription_id, properties)
            changes.append(f"restored the recorded destination of {deployment.subscription_name}, removing the record")
        else:
            notes.append("no brake record on the Event Grid subscription: nothing to restore")
        moved, left = self._move_held(deployment)
        if moved:
            changes.append(f"moved {moved} held events to {deployment.backfill_queue}")
        if moved or left:
            notes.append(
                f"moved {moved} held events to {deployment.backfill_queue}, where on_backfill_queue renders them"
            )
        if left:
            notes.append(f"{left} messages in {deployment.held_queue} are no events and were left there: look at them")
        return self.status(outputs, notes=notes).with_changes(changes)

    def status(self, outputs: Mapping[str, Any], *, notes: list[str] | None = None) -> BrakeState:
        """The subscription's destination, the app's state, the record and the queues' counts."""
        deployment = Deployment.from_outputs(outputs)
        subscription = self._get(deployment.event_subscription_id)
        record = record_of(subscription)
        held = is_held(subscription, deployment)
        state = self._app_state(deployment)
        notes = list(notes or [])
        destination = f"the held queue {deployment.held_queue}" if held else _describe(subscription)
        controls = (
            f"Event Grid subscription {deployment.subscription_name}: delivers to {destination}",
            f"function app {deployment.app_name}: {state}",
        )
        waiting = (
            f"held queue {deployment.held_queue}: {self._count(deployment, deployment.held_queue)} events, kept with "
            "no expiry until release moves them to the backfill queue",
            f"backfill queue {deployment.backfill_queue}: {self._count(deployment, deployment.backfill_queue)} work "
            "items, kept with no expiry (rendered once the app runs)",
            "dead-letter container eventgrid-deadletter: only what Event Grid gave up on outside a brake "
            "(docs/brake.md: replay)",
        )
        braked = held and state == "Stopped"
        if record and not held:
            notes.append(
                "the subscription delivers to the app again although the brake record is there (a terraform "
                "apply): `polythumb release azure` moves the held events and clears the record"
            )
        elif held and state != "Stopped":
            notes.append("events are held, but the app runs (started by hand?): backfill work items render")
        elif braked:
            notes.append(
                "every event waits in a queue with no expiry: nothing is retried or dead-lettered while braked. "
                "`polythumb release azure` restores the subscription and moves the held events"
            )
        if self._queues is None:
            notes.append(
                "the queues were not counted (the automatic brake reaches none): "
                "`polythumb brake azure --status` counts them"
            )
        if record and record.get("app") == "Stopped":
            notes.append("the app was stopped before the brake: release leaves it stopped")
        return BrakeState(braked, record.get("since") if record else None, controls, waiting, tuple(notes))

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """A connection string for Azurite's queue endpoint (``http://127.0.0.1:10001/devstoreaccount1``)."""
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"QueueEndpoint={endpoint.rstrip('/')};"
        )
        return {"THUMBS_STORAGE_CONNECTION": CONNECTION, CONNECTION: connection}

    # -- the management plane ------------------------------------------------------------------------------

    def _get(self, resource_id: str) -> dict[str, Any]:
        return self._plane.get(resource_id)

    def _put(self, resource_id: str, properties: Mapping[str, Any]) -> None:
        self._plane.put(resource_id, properties)

    def _app_state(self, deployment: Deployment) -> str:
        return self._plane.app_state(deployment.function_app_id).strip() or "unknown"

    def _delivery(self, deployment: Deployment, subscription: Mapping[str, Any]) -> dict[str, Any]:
        """Where the subscription delivers now, as the record keeps it (a webhook's URL without its key)."""
        properties = subscription.get("properties", {})
        if properties.get("deliveryWithResourceIdentity"):
            return {"deliveryWithResourceIdentity": properties["deliveryWithResourceIdentity"]}
        destination = json.loads(json.dumps(properties.get("destination") or {}))
        if destination.get("endpointType") == "WebHook":
            full_url = self._plane.full_url(deployment.event_subscription_id)
            destination["properties"]["endpointUrl"] = without_code(full_url)
            destination["properties"].pop("endpointBaseUrl", None)
        return {"destination": destination}

    def _restored(self, deployment: Deployment, delivery: Mapping[str, Any]) -> dict[str, Any]:
        """The recorded destination, a webhook's key added back from the app's current one."""
        restored = json.loads(json.dumps(dict(delivery)))
        destination = restored.get("destination") or {}
        if destination.get("endpointType") == "WebHook":
            key = self._plane.blobs_extension_key(deployment.function_app_id)
            destination["properties"]["endpointUrl"] = with_code(destination["properties"]["endpointUrl"], key)
        return dict(restored)

    @staticmethod
    def _kept(subscription: Mapping[str, Any]) -> dict[str, Any]:
        """Every property to send back unchanged: all but the read-only ones, the delivery and the labels."""
        dropped = READ_ONLY | {"destination", "deliveryWithResourceIdentity", "labels"}
        return {k: v for k, v in subscription.get("properties", {}).items() if k not in dropped}

    # -- the data plane (the queues) -----------------------------------------------------------------------

    def _queue(self, deployment: Deployment, name: str) -> Any:
        if self._queues is None:
            raise ConfigError("this brake reaches no queue (the automatic brake): run `polythumb release azure`")
        environ = dict(os.environ)
        connection = environ.get("THUMBS_STORAGE_CONNECTION") or CONNECTION
        if not any(key.split("__")[0] == connection for key in environ):
            environ[f"{connection}__queueServiceUri"] = deployment.queue_endpoint  # your Entra ID login
        return self._queues(connection, name, environ)

    def _count(self, deployment: Deployment, name: str) -> str:
        if self._queues is None:
            return "uncounted"
        try:
            client = self._queue(deployment, name)
            try:
                return str(client.get_queue_properties().approximate_message_count)
            finally:
                client.close()
        except Exception as exc:  # the count is information: a refusal shows, it stops nothing
            return f"? ({type(exc).__name__}: the queue could not be read)"

    def _move_held(self, deployment: Deployment) -> tuple[int, int]:
        """Move every held event to the backfill queue: sent first, then deleted. (moved, left behind)."""
        held = self._queue(deployment, deployment.held_queue)
        backfill = self._queue(deployment, deployment.backfill_queue)
        moved = left = 0
        try:
            for batch in _batches(held):
                for message in batch:
                    text = event_text(message.content)
                    if text is None:
                        left += 1
                        continue
                    backfill.send_message(text, time_to_live=-1)
                    held.delete_message(message)
                    moved += 1
        finally:
            held.close()
            backfill.close()
        return moved, left


def _batches(queue: Any) -> Iterator[list[Any]]:
    while batch := list(
        queue.receive_messages(messages_per_page=BATCH, max_messages=BATCH, visibility_timeout=VISIBILITY)
    ):
        yield batch


def _other_labels(subscription: Mapping[str, Any]) -> list[str]:
    labels = subscription.get("properties", {}).get("labels") or []
    return [label for label in labels if not (isinstance(label, str) and label.startswith(LABEL))]


def _describe(subscription: Mapping[str, Any]) -> str:
    properties = subscription.get("properties", {})
    destination = (
        properties.get("destination") or (properties.get("deliveryWithResourceIdentity") or {}).get("destination") or {}
    )
    kind = destination.get("endpointType", "nothing")
    target = (destination.get("properties") or {}).get("resourceId", "") or (destination.get("properties") or {}).get(
        "endpointBaseUrl", ""
    )
    return f"{kind} {target.rsplit('/', 1)[-1] if kind == 'AzureFunction' else target}".strip()
