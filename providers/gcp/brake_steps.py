"""The brake's steps on Google Cloud: each Eventarc trigger's Pub/Sub subscription paused, turned from push into pull.

Eventarc carries the Cloud Storage events to the functions through a Pub/Sub push subscription per trigger
(the one ``deploy/deadletter.tf`` attaches the dead-letter topic to). The brake makes each of them a pull
subscription that nobody pulls (``modify-push-config --push-endpoint=""``): Pub/Sub stops pushing, and the
events stay in the subscription, undelivered. No delivery is attempted, so none counts towards
``max_delivery_attempts`` and nothing is dead-lettered. They are kept for the subscription's retention,
which the brake raises to Pub/Sub's maximum, 7 days from publication (and leaves there on release:
shortening it would expire the backlog being delivered). Release puts back the push configuration the
brake recorded -- endpoint, authentication account and audience, wrapper -- and Pub/Sub delivers the
backlog, with Eventarc's retry policy.

**The record.** Before a subscription is paused, its push configuration is written as JSON to
``gs://<code bucket>/polythumb-brake/<subscription>.json`` (the deployment's own bucket of build inputs),
and the subscription gets the label ``polythumb-brake=<when>``; release restores from the record, then
removes both. A Cloud Functions or Eventarc update of a trigger may rewrite its subscription's push
configuration: that releases the brake (``--status`` tells).

**The transport.** The brake's logic talks to Google Cloud through a :class:`Transport`: the operator's
commands through ``gcloud`` (:class:`providers.gcp.brake.GcloudTransport`: authenticated, with the rights to update the
subscriptions and write that bucket, each command echoed), the automatic brake (``brake_on_runaway``,
:mod:`providers.gcp.brake_function`) through the REST APIs with the function's own identity
(:class:`providers.gcp.brake_rest.RestTransport`). Both do the same steps, in the same order.

Not covered: ``polythumb backfill --target gcp`` posts to the function's URL, not through a trigger. It reads
this brake first and refuses to start while it is on (``core.ops.brake.check_backfill``), but one already
running when the brake goes on is the operator's own process (stop it, or bound it with ``--max-renders``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.brake import BrakeState, utc_now
from core.errors import ConfigError

#: The subscription label marking a paused subscription.
LABEL = "polythumb-brake"
#: Where records go in the record bucket.
RECORD_PREFIX = "polythumb-brake/"
#: Pub/Sub's longest message retention, as gcloud takes it and as it reports it.
RETENTION, RETENTION_SECONDS = "7d", 7 * 24 * 3600
#: The push attribute Eventarc sets, which ``modify-push-config`` sets the same way on the v1 API.
DEFAULT_ATTRIBUTES = {"x-goog-version": "v1"}


@dataclass(frozen=True)
class Deployment:
    """What the brake acts on: the Terraform output ``brake`` of ``deploy/brake.tf``.

    Attributes:
        triggers: Event kind -> the Eventarc trigger's resource name.
        record_bucket: The bucket the records go to.
    """

    triggers: Mapping[str, str]
    record_bucket: str

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Deployment:
        """Raises: ConfigError: the output is missing (a stack applied before brake.tf)."""
        brake = outputs.get("brake")
        if not isinstance(brake, Mapping) or not brake.get("triggers") or not brake.get("record_bucket"):
            raise ConfigError(
                "the Terraform outputs lack brake (triggers, record_bucket): apply the current deploy files"
            )
        return cls(dict(brake["triggers"]), str(brake["record_bucket"]))


def label_value(since: str) -> str:
    """``since`` as a label value (lower-case letters, digits, ``-`` and ``_``): ``20260131t120000z``."""
    return since.replace("-", "").replace(":", "").lower()


class Transport(Protocol):
    """How the brake reads and turns Eventarc triggers, Pub/Sub subscriptions and its records.

    Names are full resource names (``projects/p/subscriptions/s``); records are ``gs://bucket/object`` URLs.
    A failure raises a :mod:`core.errors` error (transient ones marked so).
    """

    def trigger(self, name: str) -> Mapping[str, Any]:
        """The Eventarc trigger, as ``triggers.get`` answers it."""
        ...

    def subscription(self, name: str) -> dict[str, Any]:
        """The Pub/Sub subscription, as ``subscriptions.get`` answers it."""
        ...

    def update_subscription(
        self,
        name: str,
        *,
        set_label: tuple[str, str] | None = None,
        remove_label: str | None = None,
        retention: str | None = None,
    ) -> None:
        """Set or remove one label (the others kept), and/or set the message retention (``7d``)."""
        ...

    def push_to(self, name: str, push: Mapping[str, Any]) -> None:
        """Give the subscription this push configuration; ``{}`` makes it a pull subscription (paused)."""
        ...

    def write_record(self, url: str, text: str) -> None:
        """Write the record (JSON text) to ``url``."""
        ...

    def read_record(self, url: str) -> str:
        """The record's text."""
        ...

    def remove_record(self, url: str) -> None:
        """Delete the record."""
        ...


#: ``retention`` as gcloud takes it -> as the Pub/Sub API takes it.
RETENTION_DURATIONS = {RETENTION: f"{RETENTION_SECONDS}s"}


class SubscriptionBrake:
    """The brake of one deployment, through ``transport``."""

    def __init__(self, transport: Transport) -> None:
        self._cloud = transport

    # -- the three commands (ProviderSpec.brake) -----------------------------------------------------------

    def engage(self, outputs: Mapping[str, Any]) -> BrakeState:
        """Record each subscription's push configuration, raise its retention, then pause it."""
        deployment = Deployment.from_outputs(outputs)
        found = {name: self._describe(name) for name in map(self._subscription_of, deployment.triggers.values())}
        # A brake interrupted half-way, or one subscription rewritten since: its label says when the brake began.
        labelled_at = [at for at in map(_since, found.values()) if at]
        since = min(labelled_at) if labelled_at else utc_now()
        for name, subscription in found.items():  # every one is checked before any is changed
            paused = not (subscription.get("pushConfig") or {}).get("pushEndpoint")
            if paused and LABEL not in (subscription.get("labels") or {}):
                raise ConfigError(
                    f"{name} is a pull subscription that polythumb did not pause: there is no push configuration "
                    "to record, so nothing was changed. Give it back its push endpoint first"
                )
        changes: list[str] = []
        for name, subscription in found.items():
            push = subscription.get("pushConfig") or {}
            labelled = LABEL in (subscription.get("labels") or {})
            started = _since(subscription) or since
            short = name.rsplit("/", 1)[-1]
            if push.get("pushEndpoint"):  # delivering: record what to restore (again, if an update rewrote it)
                self._write_record(deployment, name, {"since": started, "subscription": name, "pushConfig": push})
                changes.append(f"recorded the push configuration of {short} in {self._record_url(deployment, name)}")
            label = None if labelled else (LABEL, label_value(started))
            short_retention = _seconds(subscription.get("messageRetentionDuration")) < RETENTION_SECONDS
            update = ["update-labels"] * bool(label) + ["message-retention-duration"] * short_retention
            if update:
                self._cloud.update_subscription(name, set_label=label, retention=RETENTION if short_retention else None)
                changes.append(f"updated {short}: " + ", ".join(update))
            if push.get("pushEndpoint"):
                self._cloud.push_to(name, {})
                completing = f" (completing the brake labelled at {_since(subscription)})" if labelled else ""
                changes.append(f"paused {short} (push -> pull){completing}")
        return self.status(outputs).with_changes(changes)

    def release(self, outputs: Mapping[str, Any]) -> BrakeState:
        """Restore each paused subscription's recorded push configuration, then drop the label and record."""
        deployment = Deployment.from_outputs(outputs)
        changes: list[str] = []
        for trigger in deployment.triggers.values():
            name = self._subscription_of(trigger)
            short = name.rsplit("/", 1)[-1]
            subscription = self._describe(name)
            if LABEL not in (subscription.get("labels") or {}):
                continue
            if not (subscription.get("pushConfig") or {}).get("pushEndpoint"):
                record = self._read_record(deployment, name)
                self._cloud.push_to(name, record["pushConfig"])
                changes.append(f"restored the recorded push configuration of {short}")
            self._cloud.update_subscription(name, remove_label=LABEL)
            self._cloud.remove_record(self._record_url(deployment, name))
            changes.append(f"removed the brake label of {short} and its record {self._record_url(deployment, name)}")
        note = None if changes else "no paused subscription: nothing to release"
        return self.status(outputs, note=note).with_changes(changes)

    def status(self, outputs: Mapping[str, Any], *, note: str | None = None) -> BrakeState:
        """Each subscription: pushing or paused, its label and retention; nothing is changed."""
        deployment = Deployment.from_outputs(outputs)
        controls: list[str] = []
        waiting: list[str] = []
        notes = [note] if note else []
        paused = 0
        since: str | None = None
        for kind, trigger in sorted(deployment.triggers.items()):
            name = self._subscription_of(trigger)
            subscription = self._describe(name)
            push = subscription.get("pushConfig") or {}
            labelled = LABEL in (subscription.get("labels") or {})
            short = name.rsplit("/", 1)[-1]
            if push.get("pushEndpoint"):
                controls.append(f"{kind} trigger, subscription {short}: pushing to the function")
                since = since or (_since(subscription) if labelled else None)
                if labelled:
                    notes.append(
                        f"{short} pushes again although it is labelled {LABEL} (an update of the trigger rewrote "
                        "it): `polythumb release gcp` clears the label, `polythumb brake gcp` pauses it again"
                    )
            else:
                paused += 1
                controls.append(f"{kind} trigger, subscription {short}: PAUSED (pull, nobody pulls)")
                since = since or (_since(subscription) if labelled else None)
                if not labelled:
                    notes.append(f"{short} is paused, but not by `polythumb brake`: nothing to restore")
            retention = _seconds(subscription.get("messageRetentionDuration"))
            waiting.append(
                f"subscription {short}: undelivered events are kept {retention / 86400:g} days from publication "
                "(count: Cloud Monitoring, pubsub.googleapis.com/subscription/num_undelivered_messages)"
            )
            extra = {k: v for k, v in (push.get("attributes") or {}).items() if DEFAULT_ATTRIBUTES.get(k) != v}
            if extra:
                notes.append(f"{short} has push attributes {sorted(extra)} that release cannot set through gcloud")
        braked = paused == len(deployment.triggers)
        if braked:
            notes.append("nothing is pushed, so no delivery counts towards max_delivery_attempts and nothing is "
                         "dead-lettered; `polythumb release gcp` restores the push configurations and Pub/Sub "
                         "delivers the backlog")  # fmt: skip
        elif paused:
            notes.append(f"only {paused} of {len(deployment.triggers)} subscriptions are paused: run `polythumb "
                         "brake gcp` again (it records and pauses the rest) or `polythumb release gcp`")  # fmt: skip
        return BrakeState(braked, since, tuple(controls), tuple(waiting), tuple(notes))

    # -- through the transport -----------------------------------------------------------------------------

    def _subscription_of(self, trigger: str) -> str:
        described = self._cloud.trigger(trigger)
        subscription = ((described.get("transport") or {}).get("pubsub") or {}).get("subscription")
        if not subscription:
            raise ConfigError(f"the Eventarc trigger {trigger} names no Pub/Sub subscription (transport.pubsub)")
        return str(subscription)

    def _describe(self, subscription: str) -> dict[str, Any]:
        return self._cloud.subscription(subscription)

    def _record_url(self, deployment: Deployment, subscription: str) -> str:
        return f"gs://{deployment.record_bucket}/{RECORD_PREFIX}{subscription.rsplit('/', 1)[-1]}.json"

    def _write_record(self, deployment: Deployment, subscription: str, record: Mapping[str, Any]) -> None:
        self._cloud.write_record(self._record_url(deployment, subscription), json.dumps(record, indent=1))

    def _read_record(self, deployment: Deployment, subscription: str) -> dict[str, Any]:
        url = self._record_url(deployment, subscription)
        record: dict[str, Any] = json.loads(self._cloud.read_record(url))
        if not (record.get("pushConfig") or {}).get("pushEndpoint"):
            raise ConfigError(f"{url} holds no push configuration: restore {subscription}'s by hand")
        return record


def _seconds(duration: Any) -> float:
    """A Pub/Sub duration (``"86400s"``) in seconds; 0 when absent."""
    text = str(duration or "0s")
    return float(text[:-1]) if text.endswith("s") else float(text)


def _since(subscription: Mapping[str, Any]) -> str | None:
    """The brake's time from the label (``20260131t120000z`` back to ``2026-01-31T12:00:00Z``)."""
    value = (subscription.get("labels") or {}).get(LABEL)
    if not value or len(value) != 16:
        return None
    text = value.upper()
    return f"{text[0:4]}-{text[4:6]}-{text[6:8]}T{text[9:11]}:{text[11:13]}:{text[13:15]}Z"
