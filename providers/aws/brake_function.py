"""The automatic brake (``brake_on_runaway = true`` in deploy/brake.tf): a small function on the alarm topic.

When an alarm of the runaway detector (named, comma-separated, in its ``BRAKE_ALARMS`` setting: the
``local.runaway_alarm_names`` of the generated deploy/observability.tf) goes into ``ALARM``, CloudWatch publishes to
the alarm topic, and this function puts the brake on -- exactly what ``polythumb brake aws`` does
(:class:`providers.aws.brake.LambdaBrake`: the record first, then the mapping disabled or the reserved
concurrency set to 0). It never releases: the alarm going back to ``OK`` only means the renders stopped, so
a person looks, then runs ``polythumb release aws``. Any other alarm, or state, is logged and ignored (the
topic's subscription filters them out already). It reads the stack from its own settings, set by Terraform.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError
from core.logs import configure_logging
from core.once import once
from providers.aws import import_boto3
from providers.aws.brake import LambdaBrake, Stack


def stack_from(environ: Mapping[str, str]) -> Stack:
    """The stack the brake acts on, from the function's settings (an empty value is a missing one)."""
    return Stack(
        function_name=environ["BRAKE_FUNCTION"],
        region=environ.get("AWS_REGION"),
        queue_url=environ.get("BRAKE_QUEUE_URL") or None,
        mapping_id=environ.get("BRAKE_MAPPING") or None,
        dead_letter_queue_url=environ.get("BRAKE_DEAD_LETTER_QUEUE_URL") or None,
    )


def alarms(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The CloudWatch alarm notifications an SNS event carries (anything else is skipped)."""
    found = []
    for record in event.get("Records") or []:
        try:
            message = json.loads(record["Sns"]["Message"])
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(message, dict):
            found.append(message)
    return found


def watched_alarms(environ: Mapping[str, str]) -> frozenset[str]:
    """The alarm names in ``BRAKE_ALARMS`` (comma-separated; CloudWatch alarm names here never hold a comma)."""
    names = frozenset(name.strip() for name in environ.get("BRAKE_ALARMS", "").split(",") if name.strip())
    if not names:
        raise ConfigError("BRAKE_ALARMS names no alarm: the automatic brake would never act")
    return names


def build_handler(environ: Mapping[str, str], *, lambda_client: Any = None, sqs_client: Any = None) -> Any:
    """The handler, for ``environ``'s stack (clients: the SDK's own, unless given)."""
    logger = configure_logging(environ.get("THUMBS_LOG_LEVEL", "INFO"))
    watched = watched_alarms(environ)
    stack = stack_from(environ)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        braked = False
        for message in alarms(event):
            name, state = message.get("AlarmName"), message.get("NewStateValue")
            if not isinstance(name, str) or name not in watched or state != "ALARM":
                logger.info("brake: %s is %s, not a runaway alarm (%s) in ALARM: ignored", name, state,
                            ", ".join(sorted(watched)))  # fmt: skip
                continue
            session = import_boto3().session.Session()
            brake = LambdaBrake(
                stack,
                lambda_client=lambda_client or session.client("lambda", region_name=stack.region),
                sqs_client=sqs_client or session.client("sqs", region_name=stack.region),
            )
            result = brake.engage()
            braked = braked or result.braked
            logger.log(
                logging.WARNING,
                "brake: %s is in ALARM: rendering stopped; `polythumb release aws` resumes it",
                name,
                extra={"fields": {"brake": result.to_dict(), "alarm": name}},
            )
        return {"braked": braked}

    return handler


#: The function's handler, built from its own settings on the first event.
default_handler = once(lambda: build_handler(os.environ))


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """What Lambda calls (``providers.aws.brake_function.handler``)."""
    result: dict[str, Any] = default_handler()(event, context)
    return result
