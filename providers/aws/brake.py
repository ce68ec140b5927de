"""The brake on AWS: the SQS event source mapping disabled (or, on the direct route, reserved concurrency 0).

**SQS route** (the default, ``event_route = "sqs"``). The brake disables the function's event source
mapping: Lambda stops receiving from the events queue, so every S3 notification and every backfill work
item waits there, visible, for the queue's retention (14 days, ``deploy/sqs.tf``), counted from when it
was sent. Nothing reaches the dead-letter queue meanwhile: a message nobody receives has no receive count
to exhaust. Invocations already running finish their batch. Release enables the mapping again and Lambda
drains the backlog at ``max_concurrency``. (Reserved concurrency 0 is *not* used on this route: the
pollers would keep receiving, every invocation would be throttled, and after ``max_receive_count``
receives the messages would move to the dead-letter queue.)

**Direct route** (``event_route = "direct"``): S3 invokes the function asynchronously, with no queue of
ours in between. The brake sets the function's reserved concurrency to 0: every invocation is throttled
and Lambda keeps the event and retries it for up to the maximum event age (6 hours, ``deploy/lambda.tf``),
then sends it to the dead-letter queue (kept 14 days). Release within that age and nothing is parked; after
it, the events are in the dead-letter queue (see docs/brake.md for the replay).

**The record.** Before turning anything, the brake writes what was there -- the mapping enabled or not, the
reservation or none -- and when, into one tag of the function (``polythumb:brake``); release restores
exactly that and removes the tag. Both are idempotent, and a crash between two steps is repaired by
running the same command again. A ``terraform apply`` restores the Terraform's settings and its tags: it
releases the brake (``--status`` tells).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.brake import BrakeState, utc_now
from core.errors import ConfigError
from providers.aws import import_boto3

#: The function tag holding the brake's record.
TAG = "polythumb:brake"
#: Seconds the brake waits for the mapping to reach its new state, polling every POLL seconds.
SETTLE_SECONDS, POLL_SECONDS = 90.0, 2.0
#: Event source mapping states in which Lambda polls the queue (or is about to).
POLLING = frozenset({"Enabled", "Enabling", "Creating", "Updating"})
#: Queue attributes the status reads.
QUEUE_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "MessageRetentionPeriod",
)


def encode_record(record: Mapping[str, str]) -> str:
    """The record as a tag value: ``key=value`` pairs separated by spaces (what Lambda tags allow)."""
    return " ".join(f"{key}={value}" for key, value in record.items())


def decode_record(text: str | None) -> dict[str, str] | None:
    """The record of a tag value (None: no tag).

    Raises:
        ConfigError: the tag holds something else (edited by hand).
    """
    if text is None:
        return None
    pairs = [item.partition("=") for item in text.split()]
    record = {key: value for key, _, value in pairs}
    previous = record.get("previous", "")
    valid = (record.get("control") == "mapping" and previous in ("enabled", "disabled")) or (
        record.get("control") == "concurrency" and (previous == "none" or previous.isdigit())
    )
    if not pairs or any(not sep or not key for key, sep, _ in pairs) or not valid:
        raise ConfigError(
            f"the function's {TAG} tag holds {text!r}, not a brake record (control=mapping previous=enabled|disabled, "
            "or control=concurrency previous=none|N): nothing was changed; set the control by hand and remove the tag"
        )
    return record


@dataclass(frozen=True)
class Stack:
    """What the brake acts on, from the Terraform outputs.

    Attributes:
        function_name: The thumbnailing function.
        region: Its region (None: the SDK's default).
        queue_url: The events queue (SQS route), or None on the direct route.
        mapping_id: The event source mapping's UUID (SQS route); None: looked up from the function and queue.
        dead_letter_queue_url: The dead-letter queue, counted in the status.
    """

    function_name: str
    region: str | None = None
    queue_url: str | None = None
    mapping_id: str | None = None
    dead_letter_queue_url: str | None = None

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Stack:
        """The stack of ``polythumb deploy aws``'s outputs.

        Raises:
            ConfigError: an output the brake needs is missing (an older stack: apply the current files).
        """
        if not outputs.get("function_name"):
            raise ConfigError("the Terraform outputs lack function_name: apply the current deploy files")
        return cls(
            function_name=outputs["function_name"],
            region=outputs.get("region"),
            queue_url=outputs.get("events_queue_url"),
            mapping_id=outputs.get("event_source_mapping_id"),
            dead_letter_queue_url=outputs.get("dead_letter_queue_url"),
        )


class LambdaBrake:
    """The brake of one deployed stack, through the Lambda and SQS APIs.

    Args:
        stack: What to act on.
        lambda_client: A boto3 Lambda client.
        sqs_client: A boto3 SQS client.
        sleep: Waits between two reads of the mapping's state.
        settle_seconds: How long to wait for the mapping to reach its new state.
    """

    def __init__(
        self, stack: Stack, *, lambda_client: Any, sqs_client: Any, sleep: Callable[[float], None] = time.sleep,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:  # fmt: skip
        self.stack = stack
        self._lambda = lambda_client
        self._sqs = sqs_client
        self._sleep = sleep
        self._settle = settle_seconds
        self._arn: str | None = None
        self._mapping: str | None = stack.mapping_id

    @property
    def control(self) -> str:
        """``mapping`` on the SQS route, ``concurrency`` on the direct one."""
        return "mapping" if self.stack.queue_url else "concurrency"

    # -- the three commands ---------------------------------------------------------------------------------

    def engage(self) -> BrakeState:
        """Record the setting (unless a record is there), then stop rendering; the state says what changed."""
        changes: list[str] = []
        # The setting is read before the record: a brake running at the same time (the automatic one and a
        # person's) records before it turns, so a setting it already turned comes with its record, read next.
        previous = self._current_setting()
        record = self._record()
        if record is None:
            record = {"since": utc_now(), "control": self.control, "previous": previous}
            self._lambda.tag_resource(Resource=self._function_arn(), Tags={TAG: encode_record(record)})
            changes.append(f"recorded {self.control} {record['previous']} in the function's {TAG} tag")
            interrupted = ""
        else:  # braked before, or a brake interrupted after its record: the first record stays what release restores
            interrupted = f" (completing the brake recorded at {record.get('since')})"
        if self.control == "mapping":
            if self._mapping_state() in POLLING:
                self._lambda.update_event_source_mapping(UUID=self._mapping_id(), Enabled=False)
                changes.append(f"disabled event source mapping {self._mapping_id()}" + interrupted)
            self._settle_mapping("Disabled")
        elif self._reserved() != 0:
            self._lambda.put_function_concurrency(FunctionName=self.stack.function_name, ReservedConcurrentExecutions=0)
            changes.append(f"set the reserved concurrency of {self.stack.function_name} to 0" + interrupted)
        return self.status().with_changes(changes)

    def release(self) -> BrakeState:
        """Restore the recorded setting and remove the record; without a record, change nothing."""
        record = self._record()
        if record is None:
            return self.status(note="no brake record on the function: nothing to release")
        changes: list[str] = []
        previous = record.get("previous", "")
        if record.get("control") == "mapping":
            if previous == "enabled":
                if self._mapping_state() not in POLLING:
                    self._lambda.update_event_source_mapping(UUID=self._mapping_id(), Enabled=True)
                    changes.append(f"enabled event source mapping {self._mapping_id()}")
                self._settle_mapping("Enabled")
        elif previous == "none":
            if self._reserved() is not None:
                self._lambda.delete_function_concurrency(FunctionName=self.stack.function_name)
                changes.append(f"removed the reserved concurrency of {self.stack.function_name}")
        elif self._reserved() != int(previous):
            self._lambda.put_function_concurrency(
                FunctionName=self.stack.function_name, ReservedConcurrentExecutions=int(previous)
            )
            changes.append(f"set the reserved concurrency of {self.stack.function_name} back to {previous}")
        self._lambda.untag_resource(Resource=self._function_arn(), TagKeys=[TAG])
        changes.append(f"removed the brake record (from {record.get('since')}) from the function's {TAG} tag")
        return self.status().with_changes(changes)

    def status(self, *, note: str | None = None) -> BrakeState:
        """The control's state, the record, and the waiting events."""
        record = self._record()
        notes = [note] if note else []
        waiting: list[str] = []
        if self.control == "mapping":
            state = self._mapping_state()
            braked = state == "Disabled"
            controls = [f"event source mapping {self._mapping_id()}: {state}"]
            waiting.append(self._queue_line(self.stack.queue_url or "", "events queue", retention=True))
            if record and state in POLLING:
                notes.append(
                    "the mapping polls again although the brake record is there (a terraform apply, or a hand "
                    "edit): `polythumb release aws` clears the record, `polythumb brake aws` brakes again"
                )
            elif braked:
                notes.append(
                    "uploads and backfill work items wait in the events queue; nothing is dead-lettered while "
                    "braked. `polythumb release aws` enables the mapping, and Lambda drains the backlog at "
                    "max_concurrency"
                )
        else:
            reserved = self._reserved()
            braked = reserved == 0
            controls = [f"reserved concurrency of {self.stack.function_name}: {_describe_reserved(reserved)}"]
            if braked:
                age = self._max_event_age()
                notes.append(
                    f"S3 invokes asynchronously: Lambda throttles every invocation and retries each event for up "
                    f"to {age / 3600:g} h (the maximum event age), then sends it to the dead-letter queue. Release "
                    "within that time and nothing is parked there; see docs/brake.md to replay what was"
                )
        if braked and record is None:
            notes.append("stopped, but not by `polythumb brake` (no record on the function): nothing to restore")
        if self.stack.dead_letter_queue_url:
            waiting.append(self._queue_line(self.stack.dead_letter_queue_url, "dead-letter queue"))
        if record and record.get("control") == "mapping":
            notes.append(f"release enables the mapping again (it was {record.get('previous')} before the brake)")
        elif record:
            notes.append(f"release restores the reserved concurrency ({_describe_reserved(record.get('previous'))})")
        since = record.get("since") if record else None
        return BrakeState(braked, since, tuple(controls), tuple(waiting), tuple(notes))

    # -- reading and turning the controls --------------------------------------------------------------------

    def _function_arn(self) -> str:
        if self._arn is None:
            configuration = self._lambda.get_function_configuration(FunctionName=self.stack.function_name)
            self._arn = str(configuration["FunctionArn"])
        return self._arn

    def _record(self) -> dict[str, str] | None:
        tags = self._lambda.list_tags(Resource=self._function_arn()).get("Tags") or {}
        return decode_record(tags.get(TAG))

    def _current_setting(self) -> str:
        """What release must restore: ``enabled``/``disabled`` (the mapping), ``none`` or N (the reservation)."""
        if self.control == "mapping":
            return "enabled" if self._mapping_state() in POLLING else "disabled"
        reserved = self._reserved()
        return "none" if reserved is None else str(reserved)

    def _mapping_id(self) -> str:
        if self._mapping is None:
            queue_arn = self._sqs.get_queue_attributes(QueueUrl=self.stack.queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            listed = self._lambda.list_event_source_mappings(EventSourceArn=queue_arn).get("EventSourceMappings", [])
            found = [m["UUID"] for m in listed if m.get("FunctionArn") == self._function_arn()]
            if len(found) != 1:
                raise ConfigError(
                    f"{self.stack.function_name} has {len(found)} event source mappings on {queue_arn}, not one: "
                    "apply the current deploy files (output event_source_mapping_id)"
                )
            self._mapping = str(found[0])
        return self._mapping

    def _mapping_state(self) -> str:
        return str(self._lambda.get_event_source_mapping(UUID=self._mapping_id())["State"])

    def _settle_mapping(self, wanted: str) -> None:
        """Wait (bounded) until the mapping is ``wanted``; a slow transition is reported by the status."""
        waited = 0.0
        while self._mapping_state() != wanted and waited < self._settle:
            self._sleep(POLL_SECONDS)
            waited += POLL_SECONDS

    def _reserved(self) -> int | None:
        answer = self._lambda.get_function_concurrency(FunctionName=self.stack.function_name)
        value = answer.get("ReservedConcurrentExecutions")
        return None if value is None else int(value)

    def _max_event_age(self) -> int:
        try:
            config = self._lambda.get_function_event_invoke_config(FunctionName=self.stack.function_name)
        except self._lambda.exceptions.ResourceNotFoundException:
            return 6 * 3600  # Lambda's default
        return int(config.get("MaximumEventAgeInSeconds") or 6 * 3600)

    def _queue_line(self, url: str, label: str, *, retention: bool = False) -> str:
        attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(QUEUE_ATTRIBUTES))["Attributes"]
        name = url.rstrip("/").rsplit("/", 1)[-1]
        line = (
            f"{label} {name}: {attributes.get('ApproximateNumberOfMessages', '?')} waiting, "
            f"{attributes.get('ApproximateNumberOfMessagesNotVisible', '?')} in flight"
        )
        if retention:
            days = int(attributes.get("MessageRetentionPeriod", 0)) / 86400
            line += f"; each kept {days:g} days from when it was sent"
        return line


def _describe_reserved(value: int | str | None) -> str:
    if value in (None, "none"):
        return "none (unreserved)"
    return f"{value}" + (" (braked: every invocation throttled)" if str(value) == "0" else "")


class AwsBrake:
    """``polythumb brake|release aws`` (``ProviderSpec.brake``): a :class:`LambdaBrake` from the outputs."""

    def status(self, outputs: Mapping[str, Any]) -> BrakeState:
        return self.for_outputs(outputs).status()

    def engage(self, outputs: Mapping[str, Any]) -> BrakeState:
        return self.for_outputs(outputs).engage()

    def release(self, outputs: Mapping[str, Any]) -> BrakeState:
        return self.for_outputs(outputs).release()

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """boto3 honours ``AWS_ENDPOINT_URL``; an emulator takes any credentials, so dummies if none are set."""
        environment = {"AWS_ENDPOINT_URL": endpoint}
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            environment |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        return environment

    @staticmethod
    def for_outputs(outputs: Mapping[str, Any]) -> LambdaBrake:
        stack = Stack.from_outputs(outputs)
        session = import_boto3().session.Session()
        return LambdaBrake(
            stack,
            lambda_client=session.client("lambda", region_name=stack.region),
            sqs_client=session.client("sqs", region_name=stack.region),
        )


BRAKE = AwsBrake()
