"""``polythumb brake aws`` / ``release aws`` on moto: the event source mapping disabled, the uploads' messages
kept in the queue, and release delivering them; on the direct route, reserved concurrency 0 and back.

moto runs Lambda functions only in Docker, so the function is played here as Lambda's poller plays it: a
:class:`Relay` receives from the queue and invokes the real handler -- but only while moto says the event
source mapping is ``Enabled``, which is what Lambda's pollers do. The brake itself talks to moto's Lambda and
SQS APIs exactly as it talks to AWS.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.ops import brake as brake_cli
from core.ops.cli import main
from providers.aws.brake import TAG, LambdaBrake, Stack
from providers.aws.handler import build_handler
from tests.images import jpeg_bytes
from tests.verify_support import Relay

from .helpers import LambdaContext, Queue

pytestmark = pytest.mark.aws

ASSUME = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def package() -> bytes:
    """A zip for moto to store (the handler runs in this process, see the module docstring)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("providers/aws/handler.py", "")
    return buffer.getvalue()


@pytest.fixture
def new_function(aws_client: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """Factory of Lambda functions on moto (stored, never run)."""
    iam, awslambda = aws_client("iam"), aws_client("lambda")

    def make(*, reserved: int | None = None) -> dict[str, Any]:
        name = f"pt-brake-{uuid.uuid4().hex[:10]}"
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ASSUME))["Role"]["Arn"]
        function = awslambda.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler="providers.aws.handler.handler",
            Code={"ZipFile": package()},
        )  # fmt: skip
        if reserved is not None:
            awslambda.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
        return dict(function)

    return make


@pytest.fixture
def sqs_stack(
    aws_client: Callable[..., Any],
    new_bucket: Callable[..., str],
    new_queue: Callable[[], Queue],
    notify_queue: Callable[[str, Queue], None],
    new_function: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """The SQS route as deploy/ wires it: S3 notifications -> queue -> event source mapping -> function."""
    source, dest = new_bucket("brake-src"), new_bucket("brake-dst")
    queue, dead = new_queue(), new_queue()
    notify_queue(source, queue)
    function = new_function()
    mapping = aws_client("lambda").create_event_source_mapping(
        EventSourceArn=queue.arn, FunctionName=function["FunctionArn"], BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )  # fmt: skip
    return {
        "source": source, "dest": dest, "queue": queue, "dead": dead, "mapping": mapping["UUID"],
        "outputs": {
            "function_name": function["FunctionName"], "region": "us-east-1", "events_queue_url": queue.url,
            "event_source_mapping_id": mapping["UUID"], "dead_letter_queue_url": dead.url,
        },
    }  # fmt: skip


def brake_for(outputs: dict[str, Any], aws_client: Callable[..., Any]) -> LambdaBrake:
    return LambdaBrake(
        Stack.from_outputs(outputs), lambda_client=aws_client("lambda"), sqs_client=aws_client("sqs"),
        sleep=lambda seconds: None,
    )  # fmt: skip


def lambda_pollers(awslambda: Any, mapping: str, queue: Queue, handler: Callable[..., Any]) -> Callable[[], None]:
    """One poll of Lambda's SQS pollers: nothing while the mapping is not Enabled, else receive and invoke."""

    def step() -> None:
        if awslambda.get_event_source_mapping(UUID=mapping)["State"] != "Enabled":
            return
        messages = queue.receive()
        if messages:
            queue.settle(messages, handler(queue.lambda_event(messages), LambdaContext()))

    return step


def waiting(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def thumbnails(s3: Any, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def wait_for(predicate: Callable[[], bool], *, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.fixture
def pollers(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any], s3_client: Any
) -> Iterator[None]:  # fmt: skip
    handler = build_handler({"THUMBS_SIZES": "64x64", "THUMBS_DEST_BUCKET": sqs_stack["dest"]}, s3_client=s3_client)
    with Relay(lambda_pollers(aws_client("lambda"), sqs_stack["mapping"], sqs_stack["queue"], handler)):
        yield


def test_braked_uploads_wait_in_the_queue_and_release_delivers_them(
    sqs_stack: dict[str, Any], pollers: None, aws_client: Callable[..., Any], s3_client: Any
) -> None:
    sqs, awslambda = aws_client("sqs"), aws_client("lambda")
    brake = brake_for(sqs_stack["outputs"], aws_client)
    assert not brake.status().braked

    state = brake.engage()
    assert state.braked and state.since
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Disabled"
    for name in ("a", "b", "c"):
        s3_client.put_object(Bucket=sqs_stack["source"], Key=f"uploads/{name}.jpg", Body=jpeg_bytes(120, 90))
    time.sleep(1.5)  # several polls of the pollers: none may receive while braked
    assert waiting(sqs, sqs_stack["queue"].url) == (3, 0)  # kept, visible, never received
    assert thumbnails(s3_client, sqs_stack["dest"]) == []
    status = brake.status()
    assert status.braked and any("events queue" in line and "3 waiting" in line for line in status.waiting)
    assert any("kept 14 days" in line or "kept 4 days" in line for line in status.waiting)

    released = brake.release()
    assert not released.braked and released.since is None
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"
    expected = [f"uploads/{name}-64x64.jpg" for name in ("a", "b", "c")]
    assert wait_for(lambda: thumbnails(s3_client, sqs_stack["dest"]) == expected), thumbnails(
        s3_client, sqs_stack["dest"]
    )
    assert wait_for(lambda: waiting(sqs, sqs_stack["queue"].url) == (0, 0))
    assert waiting(sqs, sqs_stack["dead"].url) == (0, 0)  # nothing was parked on the way
    function_arn = awslambda.get_function_configuration(FunctionName=sqs_stack["outputs"]["function_name"])[
        "FunctionArn"
    ]
    assert TAG not in awslambda.list_tags(Resource=function_arn).get("Tags", {})


def test_braking_twice_keeps_the_first_record_and_release_restores_it(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any]
) -> None:
    awslambda = aws_client("lambda")
    brake = brake_for(sqs_stack["outputs"], aws_client)
    first = brake.engage()
    second = brake.engage()  # the mapping is disabled now: the record must still say it was enabled
    assert second.braked and second.since == first.since
    assert any("it was enabled before the brake" in note for note in second.notes)
    brake.release()
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"
    again = brake.release()  # nothing recorded: nothing changes
    assert not again.braked and any("nothing to release" in note for note in again.notes)
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"


def test_a_mapping_disabled_before_the_brake_stays_disabled_after_release(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any]
) -> None:
    awslambda = aws_client("lambda")
    awslambda.update_event_source_mapping(UUID=sqs_stack["mapping"], Enabled=False)
    brake = brake_for(sqs_stack["outputs"], aws_client)
    assert brake.status().braked and any("not by `polythumb brake`" in note for note in brake.status().notes)
    brake.engage()
    brake.release()
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Disabled"


def test_the_mapping_is_found_without_its_output(sqs_stack: dict[str, Any], aws_client: Callable[..., Any]) -> None:
    outputs = {**sqs_stack["outputs"], "event_source_mapping_id": None}  # a stack applied before brake.tf
    brake_for(outputs, aws_client).engage()
    assert aws_client("lambda").get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Disabled"


@pytest.mark.parametrize("reserved", [None, 7])
def test_the_direct_route_is_braked_with_reserved_concurrency_0_and_released_to_what_it_was(
    reserved: int | None, new_function: Callable[..., dict[str, Any]], new_queue: Callable[[], Queue],
    aws_client: Callable[..., Any],
) -> None:  # fmt: skip
    awslambda = aws_client("lambda")
    function = new_function(reserved=reserved)
    name = function["FunctionName"]
    outputs = {"function_name": name, "region": "us-east-1", "events_queue_url": None,
               "dead_letter_queue_url": new_queue().url}  # fmt: skip
    brake = brake_for(outputs, aws_client)
    state = brake.engage()
    assert state.braked and awslambda.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
    assert any("maximum event age" in note for note in state.notes)
    brake.engage()
    brake.release()
    assert awslambda.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") == reserved


def test_the_commands_print_the_state(
    sqs_stack: dict[str, Any], moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(brake_cli, "deployment_outputs", lambda provider, workdir: sqs_stack["outputs"])
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)  # restored after the test: the command sets them
    assert main(["brake", "aws", "--endpoint", moto_endpoint]) == 0
    out = capsys.readouterr().out
    assert out.startswith("AWS: BRAKED since ")
    assert f"\n  did      disabled event source mapping {sqs_stack['mapping']}\n" in out
    assert main(["brake", "aws", "--endpoint", moto_endpoint]) == 0
    assert "\n  did      nothing: brake changed no setting" in capsys.readouterr().out
    assert main(["brake", "aws", "--status", "--json", "--endpoint", moto_endpoint]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["braked"] and status["controls"] == [f"event source mapping {sqs_stack['mapping']}: Disabled"]
    assert status["changed"] == []
    assert main(["brake", "aws", "--status", "--endpoint", moto_endpoint]) == 0
    assert "did" not in capsys.readouterr().out  # --status only reads, and says nothing of doing
    assert main(["release", "aws", "--endpoint", moto_endpoint]) == 0
    out = capsys.readouterr().out
    assert out.startswith("AWS: rendering (not braked)") and "\n  did      enabled event source mapping" in out


def alarm_event(name: str, state: str = "ALARM") -> dict[str, Any]:
    """What SNS hands a Lambda subscriber for a CloudWatch alarm's state change."""
    message = {"AlarmName": name, "NewStateValue": state, "OldStateValue": "OK", "NewStateReason": "Threshold Crossed"}
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": json.dumps(message)}}]}


#: The runaway detector's alarms as the generated observability.tf names them (``local.runaway_alarm_names``), as
#: brake.tf hands them to the function.
RUNAWAY_ALARMS = ("polythumb-renders-per-revision", "polythumb-invocations-per-upload")


@pytest.mark.parametrize("runaway", RUNAWAY_ALARMS)
def test_the_automatic_brake_acts_on_a_runaway_alarm_only_and_never_releases(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any], runaway: str
) -> None:
    from providers.aws.brake_function import build_handler as build_brake

    awslambda = aws_client("lambda")
    outputs = sqs_stack["outputs"]
    environ = {
        "BRAKE_ALARMS": ",".join(RUNAWAY_ALARMS), "BRAKE_FUNCTION": outputs["function_name"], "AWS_REGION": "us-east-1",
        "BRAKE_QUEUE_URL": outputs["events_queue_url"], "BRAKE_MAPPING": outputs["event_source_mapping_id"],
        "BRAKE_DEAD_LETTER_QUEUE_URL": outputs["dead_letter_queue_url"],
    }  # fmt: skip
    brake = build_brake(environ, lambda_client=awslambda, sqs_client=aws_client("sqs"))
    assert brake(alarm_event("polythumb-failure-rate"), None) == {"braked": False}  # another alarm
    assert brake(alarm_event("polythumb-renders-per-revision-x"), None) == {"braked": False}  # names match whole
    assert brake(alarm_event(runaway, "OK"), None) == {"braked": False}  # not a runaway now
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"
    assert brake(alarm_event(runaway), None) == {"braked": True}
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Disabled"
    assert brake(alarm_event(runaway, "OK"), None) == {"braked": False}  # back to OK: still braked
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Disabled"
    released = brake_for(outputs, aws_client).release()  # a person releases, restoring what the record says
    assert not released.braked and awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"


def test_the_automatic_brake_refuses_to_start_without_an_alarm_to_watch() -> None:
    from providers.aws.brake_function import build_handler as build_brake

    with pytest.raises(ConfigError, match="BRAKE_ALARMS"):
        build_brake({"BRAKE_ALARMS": " , ", "BRAKE_FUNCTION": "f"})


def test_brake_tf_hands_the_function_and_its_filter_the_generated_runaway_alarms() -> None:
    """The alarm names come from one place: the generator's ``local.runaway_alarm_names`` in observability.tf,
    each the name of one of its runaway alarms; brake.tf names none itself."""
    from core.alerts import RUNAWAY
    from providers.aws import observability

    deploy = Path(__file__).resolve().parents[3] / "providers" / "aws" / "deploy"
    generated = (deploy / "observability.tf").read_text(encoding="utf-8")
    assert generated == observability.generate()["observability.tf"]
    names = [f"aws_cloudwatch_metric_alarm.{detector.name}.alarm_name" for detector in RUNAWAY]
    assert f"runaway_alarm_names = [{', '.join(names)}]" in generated
    for detector in RUNAWAY:
        alarm = generated.split(f'resource "aws_cloudwatch_metric_alarm" "{detector.name}" {{', 1)[1]
        assert alarm.split("alarm_name", 1)[1].split("\n", 1)[0].strip() == (
            '= "${var.name}-' + detector.name.replace("_", "-") + '"'
        )
    brake = (deploy / "brake.tf").read_text(encoding="utf-8")
    assert 'BRAKE_ALARMS                = join(",", local.runaway_alarm_names)' in brake
    assert "AlarmName = local.runaway_alarm_names, NewStateValue = [\"ALARM\"]" in brake
    assert "-runaway\"" not in brake and "alarm_name" not in brake.replace("runaway_alarm_names", "")


# -- attacks: repeats, interruptions, a backfill meanwhile, a hand-edited record -----------------------------


class Crashing:
    """A Lambda client whose ``method`` raises once (a crash of the command at that step); all else passes on."""

    def __init__(self, client: Any, method: str) -> None:
        self._client, self._method, self.crashed = client, method, False

    def __getattr__(self, name: str) -> Any:
        if name == self._method and not self.crashed:

            def crash(**kwargs: Any) -> Any:
                self.crashed = True
                raise KeyboardInterrupt(f"killed before {name}")

            return crash
        return getattr(self._client, name)


def crashing_brake(outputs: dict[str, Any], aws_client: Callable[..., Any], method: str) -> LambdaBrake:
    return LambdaBrake(
        Stack.from_outputs(outputs), lambda_client=Crashing(aws_client("lambda"), method),
        sqs_client=aws_client("sqs"), sleep=lambda seconds: None,
    )  # fmt: skip


def test_each_command_says_what_it_changed_and_a_repeat_changes_nothing(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any]
) -> None:
    brake, mapping = brake_for(sqs_stack["outputs"], aws_client), sqs_stack["mapping"]
    first = brake.engage()
    assert first.changed == (f"recorded mapping enabled in the function's {TAG} tag",
                             f"disabled event source mapping {mapping}")  # fmt: skip
    again = brake.engage()
    assert again.braked and again.changed == ()
    assert "did      nothing: brake changed no setting" in again.describe("AWS", command="brake")
    released = brake.release()
    removed = f"removed the brake record (from {first.since}) from the function's {TAG} tag"
    assert released.changed == (f"enabled event source mapping {mapping}", removed)
    twice = brake.release()
    assert not twice.braked and twice.changed == () and any("nothing to release" in n for n in twice.notes)
    assert "did      nothing: release changed no setting" in twice.describe("AWS", command="release")
    assert aws_client("lambda").get_event_source_mapping(UUID=mapping)["State"] == "Enabled"


def test_a_brake_killed_between_its_record_and_the_mapping_is_completed_by_braking_again(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any]
) -> None:
    awslambda, mapping = aws_client("lambda"), sqs_stack["mapping"]
    with pytest.raises(KeyboardInterrupt):
        crashing_brake(sqs_stack["outputs"], aws_client, "update_event_source_mapping").engage()
    brake = brake_for(sqs_stack["outputs"], aws_client)
    status = brake.status()  # recorded, still polling: said so
    assert not status.braked and status.since
    assert any("polls again although the brake record" in n for n in status.notes)
    done = brake.engage()
    assert done.braked and done.since == status.since
    completing = f"(completing the brake recorded at {status.since})"
    assert done.changed == (f"disabled event source mapping {mapping} {completing}",)
    brake.release()
    assert awslambda.get_event_source_mapping(UUID=mapping)["State"] == "Enabled"


def test_a_brake_killed_after_its_record_is_undone_by_release(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any]
) -> None:
    with pytest.raises(KeyboardInterrupt):
        crashing_brake(sqs_stack["outputs"], aws_client, "update_event_source_mapping").engage()
    released = brake_for(sqs_stack["outputs"], aws_client).release()
    assert not released.braked and released.since is None
    assert len(released.changed) == 1 and released.changed[0].startswith("removed the brake record")
    assert aws_client("lambda").get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"


def test_a_release_killed_before_removing_the_record_is_completed_by_releasing_again(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any]
) -> None:
    brake_for(sqs_stack["outputs"], aws_client).engage()
    with pytest.raises(KeyboardInterrupt):
        crashing_brake(sqs_stack["outputs"], aws_client, "untag_resource").release()
    brake = brake_for(sqs_stack["outputs"], aws_client)
    assert aws_client("lambda").get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"
    status = brake.status()
    assert status.since and any("polls again although the brake record" in n for n in status.notes)
    again = brake.release()
    assert not again.braked and again.since is None
    assert len(again.changed) == 1 and again.changed[0].startswith("removed the brake record")


def test_a_direct_route_brake_repeated_or_interrupted_turns_the_reservation_once(
    new_function: Callable[..., dict[str, Any]], aws_client: Callable[..., Any]
) -> None:
    function = new_function(reserved=7)
    outputs = {"function_name": function["FunctionName"], "region": "us-east-1"}
    with pytest.raises(KeyboardInterrupt):
        crashing_brake(outputs, aws_client, "put_function_concurrency").engage()
    brake = brake_for(outputs, aws_client)
    done = brake.engage()
    assert done.braked and len(done.changed) == 1 and "to 0 (completing the brake recorded at" in done.changed[0]
    assert brake.engage().changed == ()
    released = brake.release()
    assert released.changed[0] == f"set the reserved concurrency of {function['FunctionName']} back to 7"
    assert (
        aws_client("lambda").get_function_concurrency(FunctionName=function["FunctionName"])[
            "ReservedConcurrentExecutions"
        ]
        == 7
    )
    assert brake.release().changed == ()


@pytest.mark.parametrize("value", ["control=mapping previous=maybe since=x", "control=concurrency previous=lots",
                                   "since=2026-01-01T00:00:00Z", "whatever"])  # fmt: skip
def test_a_hand_edited_record_stops_both_commands_before_they_change_anything(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any], value: str
) -> None:
    awslambda = aws_client("lambda")
    arn = awslambda.get_function_configuration(FunctionName=sqs_stack["outputs"]["function_name"])["FunctionArn"]
    awslambda.tag_resource(Resource=arn, Tags={TAG: value})
    brake = brake_for(sqs_stack["outputs"], aws_client)
    for command in (brake.engage, brake.release):
        with pytest.raises(ConfigError, match=r"not a brake record.*nothing was changed"):
            command()
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"
    assert awslambda.list_tags(Resource=arn)["Tags"][TAG] == value


def test_a_backfill_sending_while_braked_waits_in_the_queue_and_release_renders_it(
    sqs_stack: dict[str, Any], pollers: None, aws_client: Callable[..., Any], s3_client: Any
) -> None:
    from core.events import ObjectEvent
    from providers.aws.backfill import SqsSink

    sqs = aws_client("sqs")
    keys = [f"uploads/old{n}.jpg" for n in range(12)]
    for key in keys:
        s3_client.put_object(Bucket=sqs_stack["source"], Key=key, Body=jpeg_bytes(120, 90))
    assert wait_for(lambda: len(thumbnails(s3_client, sqs_stack["dest"])) == 12)  # the uploads themselves
    for item in s3_client.list_objects_v2(Bucket=sqs_stack["dest"])["Contents"]:
        s3_client.delete_object(Bucket=sqs_stack["dest"], Key=item["Key"])  # lost: a backfill's job
    brake = brake_for(sqs_stack["outputs"], aws_client)
    sink = SqsSink(sqs_stack["queue"].url, client=sqs, workers=2)
    try:
        events = [ObjectEvent.created(sqs_stack["source"], key, size=1, event_id=f"b{n}") for n, key in enumerate(keys)]
        assert sink.send(events[:5]).accepted == tuple(range(5))
        brake.engage()  # mid-backfill
        assert sink.send(events[5:]).accepted == tuple(range(7))  # the backfill goes on sending, unaware
    finally:
        sink.close()
    time.sleep(1.5)
    rendered_while_braked = thumbnails(s3_client, sqs_stack["dest"])
    assert len(rendered_while_braked) <= 5  # only what pollers took before the brake
    assert wait_for(lambda: sum(waiting(sqs, sqs_stack["queue"].url)) == 12 - len(rendered_while_braked))
    brake.release()
    assert wait_for(lambda: len(thumbnails(s3_client, sqs_stack["dest"])) == 12)
    assert waiting(sqs, sqs_stack["dead"].url) == (0, 0)


class Racing:
    """A Lambda client on which ``other`` runs to completion just before the first mapping read answers."""

    def __init__(self, client: Any, other: Callable[[], Any]) -> None:
        self._client, self._other, self.raced = client, other, False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != "get_event_source_mapping" or self.raced:
            return method

        def first_read(**kwargs: Any) -> Any:
            self.raced = True
            self._other()
            return method(**kwargs)

        return first_read


def test_two_brakes_at_once_keep_the_setting_from_before_both(
    sqs_stack: dict[str, Any], aws_client: Callable[..., Any]
) -> None:
    """The automatic brake and a person braking together: whichever records, release enables the mapping."""
    awslambda = aws_client("lambda")
    other = brake_for(sqs_stack["outputs"], aws_client)
    racing = LambdaBrake(
        Stack.from_outputs(sqs_stack["outputs"]), lambda_client=Racing(awslambda, other.engage),
        sqs_client=aws_client("sqs"), sleep=lambda seconds: None,
    )  # fmt: skip
    assert racing.engage().braked
    released = brake_for(sqs_stack["outputs"], aws_client).release()
    assert not released.braked
    assert awslambda.get_event_source_mapping(UUID=sqs_stack["mapping"])["State"] == "Enabled"
