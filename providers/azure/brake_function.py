"""The automatic brake (``brake_on_runaway = true`` in deploy/brake.tf): an HTTP function of the app itself.

The runaway detector's two log alert rules (deploy/observability.tf, named once in ``local.runaway_alert_names``)
notify, besides the alerts' action group, an action group of their own whose Azure Function receiver posts the
alert to this function in the common alert schema (``schemaId: azureMonitorCommonAlertSchema``). When one of the
rules named in ``BRAKE_ALERTS`` goes into ``Fired`` (``data.essentials.monitorCondition``), it puts the brake on --
exactly what ``polythumb brake azure`` does (:class:`providers.azure.brake_core.HoldingBrake`: the record and the
redirection in one request, then the app stopped), through Resource Manager's REST API as the app's managed
identity (:mod:`providers.azure.brake_arm`). It never releases: ``Resolved`` only means the renders stopped, so a
person looks, then runs ``polythumb release azure``. Any other rule, condition or payload is logged and ignored.

**Its answer.** Stopping the app is the brake's last step, and may end this very invocation before it answers.
That loss is harmless: the record and the redirection were written first, the stop is Resource Manager's to
finish, and the action group's retry (of a request that got no answer) meets a stopped app and changes nothing.
An alert this function ignores is answered 200 and one it cannot read 400, so neither is retried; a brake that
Resource Manager refused (a role missing, a hand-edited record) is answered 500, which the action group does not
retry either (the alert's e-mail still reaches a person); only throttling or an unreachable Resource Manager
answers 503, which it retries. Nothing logged holds a token, a key or the payload: the rule's name, its
condition and the brake's state.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError, MalformedEvent, PolythumbError, TransientError
from core.logs import configure_logging
from core.once import once
from providers.azure.brake_core import ARM, Deployment, HoldingBrake, ManagementPlane
from providers.azure.settings import BRAKE_DEPLOYMENT, BRAKE_MANAGEMENT_ENDPOINT, brake_settings

#: The common alert schema's id, the only payload the action group sends here.
COMMON_ALERT_SCHEMA = "azureMonitorCommonAlertSchema"
#: The condition of an alert going off (``Resolved``: coming back).
FIRED = "Fired"
#: Most bytes of a payload read: an alert is a few kilobytes; a larger body is no alert of ours.
MAX_PAYLOAD = 1 << 20


@dataclass(frozen=True)
class Alert:
    """What the brake reads of one alert notification."""

    rule: str
    condition: str


@dataclass(frozen=True)
class Answer:
    """The function's HTTP answer: its status and a small JSON body (never the payload)."""

    status: int
    body: dict[str, Any]


def deployment_outputs(environ: Mapping[str, str]) -> tuple[frozenset[str], dict[str, Any]]:
    """The rules watched, and the Terraform outputs the brake reads (``{"brake": ...}``), checked.

    Raises:
        ConfigError: a setting is missing or malformed, naming it.
    """
    watched, brake = brake_settings(environ)
    outputs = {"brake": brake}
    try:
        Deployment.from_outputs(outputs)
    except (ConfigError, KeyError, TypeError) as exc:
        raise ConfigError(f"{BRAKE_DEPLOYMENT}: {exc}") from None
    return watched, outputs


def alert_of(body: bytes) -> Alert:
    """The rule and condition of a common alert schema notification.

    Raises:
        MalformedEvent: no JSON object of that schema, or one without a rule name and a condition.
    """
    if len(body) > MAX_PAYLOAD:
        raise MalformedEvent(f"an alert of {len(body)} bytes: larger than any alert notification")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedEvent("the request body is not JSON") from None
    if not isinstance(payload, dict) or payload.get("schemaId") != COMMON_ALERT_SCHEMA:
        schema = payload.get("schemaId") if isinstance(payload, dict) else None
        raise MalformedEvent(f"not a common alert schema notification (schemaId {str(schema)[:60]!r})")
    essentials = (payload.get("data") or {}).get("essentials") if isinstance(payload.get("data"), dict) else None
    rule = essentials.get("alertRule") if isinstance(essentials, dict) else None
    condition = essentials.get("monitorCondition") if isinstance(essentials, dict) else None
    if not isinstance(rule, str) or not isinstance(condition, str):
        raise MalformedEvent("the alert has no data.essentials.alertRule or monitorCondition")
    return Alert(rule, condition)


def managed_identity_plane(environ: Mapping[str, str]) -> ManagementPlane:
    """Resource Manager's REST API with the app's system-assigned identity (tokens cached by azure-identity)."""
    from azure.identity import ManagedIdentityCredential

    from providers.azure.brake_arm import ArmRest

    endpoint = (environ.get(BRAKE_MANAGEMENT_ENDPOINT) or ARM).rstrip("/")  # checked by ArmRest, and at start
    credential = ManagedIdentityCredential()
    return ArmRest(token=lambda: credential.get_token(f"{endpoint}/.default").token, endpoint=endpoint)


def build_handler(
    environ: Mapping[str, str], *, plane: Callable[[Mapping[str, str]], ManagementPlane] = managed_identity_plane
) -> Callable[[bytes], Answer]:
    """The handler of one alert notification, for ``environ``'s deployment.

    Raises:
        ConfigError: a setting is missing or malformed (at the first request, naming it).
    """
    logger = configure_logging(environ.get("THUMBS_LOG_LEVEL", "INFO"))
    watched, outputs = deployment_outputs(environ)
    brake = HoldingBrake(plane=plane(environ))  # no queues: it never releases, and counts nothing

    def handle(body: bytes) -> Answer:
        try:
            alert = alert_of(body)
        except MalformedEvent as exc:
            logger.warning("brake: an alert it cannot read, ignored: %s", exc, extra={"fields": {"kind": exc.kind}})
            return Answer(400, {"braked": False, "error": exc.kind})
        if alert.rule not in watched or alert.condition != FIRED:
            logger.info("brake: %s is %s, not a runaway alert (%s) firing: ignored", alert.rule[:200],
                        alert.condition[:40], ", ".join(sorted(watched)))  # fmt: skip
            return Answer(200, {"braked": False, "ignored": alert.rule[:200]})
        try:
            state = brake.engage(outputs)
        except PolythumbError as exc:
            retried = isinstance(exc, TransientError)
            logger.error("brake: %s fired, but the brake failed%s: %s", alert.rule, " (retried)" if retried else "",
                         exc, extra={"fields": {"kind": exc.kind, "alert": alert.rule}})  # fmt: skip
            return Answer(503 if retried else 500, {"braked": False, "error": exc.kind})
        logger.log(
            logging.WARNING if state.changed else logging.INFO,
            "brake: %s fired: %s; `polythumb release azure` resumes it",
            alert.rule,
            "rendering stopped" if state.changed else "already braked, nothing changed",
            extra={"fields": {"brake": state.to_dict(), "alert": alert.rule}},
        )
        return Answer(200, {"braked": state.braked, "changed": list(state.changed)})

    return handle


#: The handler, built from the app's own settings on the first alert.
default_handler = once(lambda: build_handler(os.environ))
