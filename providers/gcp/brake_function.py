"""The automatic brake (``brake_on_runaway = true`` in deploy/brake.tf): a function on the runaway alerts' topic.

The runaway detector's alert policies (generated into deploy/observability.tf, named once there:
``local.runaway_policy_names``) notify, besides the alert channel, a Pub/Sub notification channel whose
topic triggers this function (Eventarc, ``google.cloud.pubsub.topic.v1.messagePublished``). The message data
is Cloud Monitoring's incident JSON (schema version ``1.2``: ``incident.policy_name``, ``incident.state``
``open`` | ``closed``). When one of those policies opens an incident, this puts the brake on -- exactly
what ``polythumb brake gcp`` does, with the same steps (:class:`providers.gcp.brake_steps.SubscriptionBrake`:
the record first, then each trigger's subscription paused), through the REST APIs with the function's own
service account (:class:`providers.gcp.brake_rest.RestTransport`). It never releases: an incident closing
only means the renders stopped, so a person looks, then runs ``polythumb release gcp``. Any other policy or
state is logged and ignored.

What the platform retries (Eventarc redelivers on a non-2xx answer while the trigger's retry policy is
``RETRY_POLICY_RETRY``, with backoff, for the subscription's retention): only a transient failure (an API
throttling or unavailable) is raised. A malformed notification, or a permanent refusal (a missing
permission, a subscription polythumb did not pause), is logged, classified, and acknowledged: a retry
could never fix it, and the incident stays visible in Cloud Monitoring and on the alert channel.

Settings (deploy/brake.tf sets them; a missing one fails the cold start, named): ``BRAKE_POLICIES`` (JSON list
of the policies' display names), ``BRAKE_TRIGGERS`` (JSON object: event kind -> Eventarc trigger),
``BRAKE_RECORD_BUCKET``. ``BRAKE_API_ENDPOINT`` (tests only) points both APIs at one stand-in, called
without credentials, as ``STORAGE_EMULATOR_HOST`` does for the records.

Never imported by the thumbnail functions: its own source file in the archive (``brake_main.py``,
``GOOGLE_FUNCTION_SOURCE``) imports it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError, PolythumbError, TransientError
from core.logs import configure_logging
from core.once import once
from providers.gcp import INSTALL_HINT
from providers.gcp.brake_steps import SubscriptionBrake, Transport

try:
    import functions_framework
except ImportError as exc:  # pragma: no cover - exercised only where the SDK is absent
    raise ImportError(f"the GCP entrypoints need functions-framework: {INSTALL_HINT}") from exc

#: The incident state that opens an incident (the other one is ``closed``).
OPEN = "open"


class MalformedAlert(PolythumbError):
    """The Pub/Sub message is not a Cloud Monitoring incident notification: acknowledged, never retried."""

    kind = "malformed_alert"


@dataclass(frozen=True)
class Incident:
    """What the brake reads of a notification: the policy's display name, the state and the incident's id."""

    policy: str
    state: str
    incident_id: str


def incident_of(data: Any) -> Incident:
    """The incident a ``messagePublished`` CloudEvent's data carries (``message.data``: base64 of the JSON).

    Raises:
        MalformedAlert: Anything else. The message never quotes the payload.
    """
    try:
        encoded = data["message"]["data"]
        notification = json.loads(base64.b64decode(encoded, validate=True))
        incident = notification["incident"]
        policy, state = incident["policy_name"], incident["state"]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise MalformedAlert(
            f"not a Cloud Monitoring incident notification (message.data: base64 JSON with incident.policy_name "
            f"and incident.state): {type(exc).__name__}"
        ) from exc
    if not isinstance(policy, str) or not isinstance(state, str):
        raise MalformedAlert("incident.policy_name and incident.state must be strings")
    return Incident(policy, state, str(incident.get("incident_id") or ""))


def _json_setting(environ: Mapping[str, str], name: str, kind: type) -> Any:
    try:
        value = json.loads(environ.get(name) or "")
    except ValueError:
        value = None
    if not isinstance(value, kind) or not value:
        raise ConfigError(f"{name} must be a non-empty JSON {kind.__name__} (deploy/brake.tf sets it)")
    return value


def outputs_from(environ: Mapping[str, str]) -> dict[str, Any]:
    """What ``polythumb brake gcp`` reads from the Terraform output ``brake``, from the function's settings."""
    triggers = _json_setting(environ, "BRAKE_TRIGGERS", dict)
    bucket = environ.get("BRAKE_RECORD_BUCKET", "").strip()
    if not bucket:
        raise ConfigError("BRAKE_RECORD_BUCKET names no bucket (deploy/brake.tf sets it to the code bucket)")
    return {"brake": {"triggers": triggers, "record_bucket": bucket}}


def watched_policies(environ: Mapping[str, str]) -> frozenset[str]:
    """The runaway policies' display names in ``BRAKE_POLICIES``."""
    names = _json_setting(environ, "BRAKE_POLICIES", list)
    if not all(isinstance(name, str) and name for name in names):
        raise ConfigError("BRAKE_POLICIES must list the runaway alert policies' display names")
    return frozenset(names)


def rest_transport(environ: Mapping[str, str]) -> Transport:
    """The REST transport with the function's identity (a stand-in's, unauthenticated, with ``BRAKE_API_ENDPOINT``)."""
    from providers.gcp.brake_rest import SCOPE, RestTransport
    from providers.gcp.storage import make_client

    endpoint = environ.get("BRAKE_API_ENDPOINT") or None
    if endpoint:
        import requests

        session: Any = requests.Session()
    else:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(scopes=[SCOPE])  # type: ignore[no-untyped-call]
        session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    return RestTransport(session=session, storage_client=make_client(), endpoint=endpoint)


def build_handler(
    environ: Mapping[str, str], *, transport: Callable[[], Transport] | None = None
) -> Callable[[Any], dict[str, Any]]:
    """The handler of one CloudEvent's data, for ``environ``'s deployment.

    Raises:
        ConfigError: A setting is missing or invalid (named).
    """
    logger = configure_logging(environ.get("THUMBS_LOG_LEVEL", "INFO"))
    watched = watched_policies(environ)
    outputs = outputs_from(environ)
    connect = once(transport or (lambda: rest_transport(environ)))

    def handle(data: Any) -> dict[str, Any]:
        try:
            incident = incident_of(data)
        except MalformedAlert as exc:
            logger.warning("brake: %s: acknowledged, ignored", exc, extra={"fields": {"error_kind": exc.kind}})
            return {"braked": False, "ignored": "malformed"}
        fields = {"alert": incident.policy, "state": incident.state, "incident": incident.incident_id}
        if incident.policy not in watched or incident.state != OPEN:
            logger.info("brake: %s is %s, not a runaway policy (%s) opening an incident: ignored", incident.policy,
                        incident.state, ", ".join(sorted(watched)), extra={"fields": fields})  # fmt: skip
            return {"braked": False, "ignored": "not a runaway incident opening"}
        try:
            result = SubscriptionBrake(connect()).engage(outputs)
        except TransientError:
            raise  # functions-framework answers 500: Eventarc redelivers with backoff; the brake is idempotent
        except PolythumbError as exc:  # permanent: a retry cannot fix it (logged, acknowledged)
            logger.error("brake: %s opened an incident, but the brake failed: %s", incident.policy, exc,
                         extra={"fields": {**fields, "error_kind": exc.kind}})  # fmt: skip
            return {"braked": False, "failed": exc.kind}
        logger.warning("brake: %s opened an incident: rendering stopped; `polythumb release gcp` resumes it",
                       incident.policy, extra={"fields": {**fields, "brake": result.to_dict()}})  # fmt: skip
        return {"braked": result.braked}

    return handle


#: The function's handler, built from its own settings (``brake_main.py`` builds it at cold start).
default_handler = once(lambda: build_handler(os.environ))


@functions_framework.cloud_event
def handle_brake_alert(cloud_event: Any) -> None:
    """Handle one Pub/Sub ``messagePublished`` CloudEvent carrying a Cloud Monitoring notification.

    Raises:
        core.errors.TransientError: The brake could not reach an API: Eventarc should redeliver (HTTP 500).
    """
    default_handler()(cloud_event.get_data())
