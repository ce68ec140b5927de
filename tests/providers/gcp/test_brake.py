"""``polythumb brake gcp`` / ``release gcp`` through the commands it runs, against a stand-in ``gcloud``
(tests/providers/gcp/fake_gcloud.py) holding Eventarc's triggers and their Pub/Sub subscriptions, and against
the names deploy/brake.tf gives it.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.ops import brake as brake_cli
from core.ops.cli import main
from providers.gcp.brake import LABEL, EventarcBrake
from tests.terraform import ROOT, load_module

from . import fake_gcloud

PROJECT = "projects/acme-images"
KINDS = ("finalized", "deleted", "archived")
RECORD_BUCKET = "acme-images-polythumb-code"


def trigger(kind: str) -> str:
    return f"{PROJECT}/locations/us-central1/triggers/polythumb-{kind}-418305"


def subscription(kind: str) -> str:
    return f"{PROJECT}/subscriptions/eventarc-us-central1-polythumb-{kind}-418305-sub-921"


def push_config(kind: str) -> dict[str, Any]:
    """What Eventarc sets on its subscription: the service, authenticated as the trigger's account."""
    service = f"https://polythumb-{kind}-abc123-uc.a.run.app"
    return {
        "pushEndpoint": f"{service}?__GCP_CloudEventsMode=GCS_NOTIFICATION",
        "oidcToken": {
            "serviceAccountEmail": "polythumb-trigger@acme-images.iam.gserviceaccount.com",
            "audience": service,
        },
        "attributes": {"x-goog-version": "v1"},
    }


def eventarc_state() -> dict[str, Any]:
    return {
        "triggers": {trigger(k): {"name": trigger(k), "transport": {"pubsub": {"subscription": subscription(k)}}}
                     for k in KINDS},
        "subscriptions": {
            subscription(k): {
                "name": subscription(k), "pushConfig": push_config(k), "messageRetentionDuration": "86400s",
                "labels": {"goog-eventarc": ""}, "ackDeadlineSeconds": 10,
                "deadLetterPolicy": {"deadLetterTopic": f"{PROJECT}/topics/dead-letters", "maxDeliveryAttempts": 10},
            }
            for k in KINDS
        },
    }  # fmt: skip


OUTPUTS = {"brake": {"triggers": {k: trigger(k) for k in KINDS}, "record_bucket": RECORD_BUCKET}}


@pytest.fixture
def gcloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], Path]:
    environment, log = fake_gcloud.install(tmp_path / "bin", eventarc_state())
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment, log


def subscriptions(environment: dict[str, str]) -> dict[str, Any]:
    return dict(fake_gcloud.state(environment)["subscriptions"])


def test_brake_pauses_every_subscription_after_recording_its_push_configuration(
    gcloud: tuple[dict[str, str], Path],
) -> None:
    environment, log = gcloud
    before = subscriptions(environment)
    state = EventarcBrake().engage(OUTPUTS)
    assert state.braked and state.since and len(state.controls) == 3
    after = subscriptions(environment)
    objects = fake_gcloud.state(environment)["objects"]
    for kind in KINDS:
        paused = after[subscription(kind)]
        assert paused["pushConfig"] == {}  # pull: Pub/Sub pushes nothing, counts no delivery attempt
        assert paused["messageRetentionDuration"] == "604800s"  # kept 7 days, Pub/Sub's longest
        assert paused["labels"] == {"goog-eventarc": "", LABEL: state.since.replace("-", "").replace(":", "").lower()}
        assert paused["deadLetterPolicy"] == before[subscription(kind)]["deadLetterPolicy"]
        record = json.loads(
            objects[f"gs://{RECORD_BUCKET}/polythumb-brake/{subscription(kind).rsplit('/', 1)[1]}.json"]
        )
        assert record["pushConfig"] == push_config(kind) and record["since"] == state.since
    # Recorded, then labelled, then paused: a crash at any step leaves what the next run needs.
    steps = [" ".join(c[:3]) for c in fake_gcloud.calls(log) if c[1] != "eventarc" and c[2] != "describe"]
    assert steps[:3] == ["storage cp " + steps[0].split()[2], "pubsub subscriptions update",
                         "pubsub subscriptions modify-push-config"]  # fmt: skip
    assert all("waiting" not in line and "kept 7 days" in line for line in state.waiting)


def test_release_restores_exactly_what_was_recorded_and_removes_the_record(gcloud: tuple[dict[str, str], Path]) -> None:
    environment, _ = gcloud
    before = subscriptions(environment)
    brake = EventarcBrake()
    brake.engage(OUTPUTS)
    state = brake.release(OUTPUTS)
    assert not state.braked and state.since is None
    after = subscriptions(environment)
    for kind in KINDS:
        expected = copy.deepcopy(before[subscription(kind)])
        expected["messageRetentionDuration"] = "604800s"  # kept: shortening it could expire the backlog
        assert after[subscription(kind)] == expected
    assert fake_gcloud.state(environment)["objects"] == {}


def test_brake_and_release_are_idempotent(gcloud: tuple[dict[str, str], Path]) -> None:
    environment, log = gcloud
    brake = EventarcBrake()
    first = brake.engage(OUTPUTS)
    braked = subscriptions(environment)
    calls = len(fake_gcloud.calls(log))
    second = brake.engage(OUTPUTS)
    assert second.since == first.since and subscriptions(environment) == braked
    changes = [c for c in fake_gcloud.calls(log)[calls:] if c[2] not in ("describe",)]
    assert changes == []  # only reads: the record is not overwritten with the paused configuration
    brake.release(OUTPUTS)
    released = subscriptions(environment)
    again = brake.release(OUTPUTS)
    assert subscriptions(environment) == released and "nothing to release" in again.notes[0]


def test_a_subscription_rewritten_while_braked_is_shown_and_braked_again(gcloud: tuple[dict[str, str], Path]) -> None:
    environment, _ = gcloud
    brake = EventarcBrake()
    brake.engage(OUTPUTS)
    state = fake_gcloud.state(environment)
    state["subscriptions"][subscription("finalized")]["pushConfig"] = push_config("finalized")  # an update of it
    Path(environment["FAKE_GCLOUD_STATE"]).write_text(json.dumps(state))
    status = brake.status(OUTPUTS)
    assert not status.braked
    assert any("pushes again although it is labelled" in note for note in status.notes)
    assert brake.engage(OUTPUTS).braked
    brake.release(OUTPUTS)
    assert subscriptions(environment)[subscription("finalized")]["pushConfig"] == push_config("finalized")


def test_a_pull_subscription_polythumb_did_not_pause_is_left_alone(gcloud: tuple[dict[str, str], Path]) -> None:
    environment, log = gcloud
    state = fake_gcloud.state(environment)
    state["subscriptions"][subscription("deleted")]["pushConfig"] = {}
    Path(environment["FAKE_GCLOUD_STATE"]).write_text(json.dumps(state))
    brake = EventarcBrake()
    assert any("not by `polythumb brake`" in note for note in brake.status(OUTPUTS).notes)
    with pytest.raises(ConfigError, match="no push configuration to record"):
        brake.engage(OUTPUTS)
    assert [c for c in fake_gcloud.calls(log) if c[0] != "eventarc" and c[2] != "describe"] == []  # none paused


def test_the_commands_print_the_state(
    gcloud: tuple[dict[str, str], Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(brake_cli, "deployment_outputs", lambda provider, workdir: OUTPUTS)
    assert main(["brake", "gcp"]) == 0
    assert capsys.readouterr().out.startswith("Google Cloud: BRAKED since ")
    assert main(["brake", "gcp", "--status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["braked"] is True
    assert main(["release", "gcp"]) == 0
    assert capsys.readouterr().out.startswith("Google Cloud: rendering (not braked)")
    assert main(["brake", "gcp", "--endpoint", "http://127.0.0.1:1"]) == 2  # no emulator of the control plane


def test_the_terraform_output_names_every_trigger_and_the_code_bucket() -> None:
    """The brake reads `brake.triggers` (each function's Eventarc trigger, the name deadletter.tf's gcloud
    describes too) and `brake.record_bucket` (the code bucket, which destroy empties: no record blocks it).
    """
    module = load_module(ROOT / "providers" / "gcp" / "deploy")
    [output] = [block["brake"] for block in module["output"] if "brake" in block]
    value = output["value"]
    assert set(value) == {"triggers", "record_bucket"}
    # A local since the automatic brake (brake_on_runaway) is handed the same triggers.
    assert value["triggers"] == "${local.brake_triggers}"
    [triggers] = [block["brake_triggers"] for block in module["locals"] if "brake_triggers" in block]
    assert "google_cloudfunctions2_function.thumbnails" in triggers
    assert "function.event_trigger[0].trigger" in triggers
    assert value["record_bucket"] == "${google_storage_bucket.code.name}"
    [code] = [block["google_storage_bucket"]["code"] for block in module["resource"]
              if "code" in block.get("google_storage_bucket", {})]  # fmt: skip
    assert code["force_destroy"] is True


def crashing_run(step: str) -> Any:
    """``subprocess.run`` killed (once) when the command is about to run ``gcloud ... <step>``."""
    import subprocess

    crashed: list[bool] = []

    def run(argv: list[str], **kwargs: Any) -> Any:
        if step in argv and not crashed:
            crashed.append(True)
            raise KeyboardInterrupt(f"killed before {step}")
        return subprocess.run(argv, **kwargs)

    return run


def test_each_command_says_what_it_changed_and_a_repeat_changes_nothing(gcloud: tuple[dict[str, str], Path]) -> None:
    brake = EventarcBrake()
    first = brake.engage(OUTPUTS)
    names = [subscription(k).rsplit("/", 1)[1] for k in KINDS]
    assert [c.split(" ")[0] for c in first.changed] == ["recorded", "updated", "paused"] * 3
    assert all(any(name in change for change in first.changed) for name in names)
    assert brake.engage(OUTPUTS).changed == ()
    released = brake.release(OUTPUTS)
    assert [c.split(" ")[0] for c in released.changed] == ["restored", "removed"] * 3
    again = brake.release(OUTPUTS)
    assert again.changed == () and "did      nothing" in again.describe("GCP", command="release")


def test_a_brake_killed_between_recording_and_pausing_is_completed_by_braking_again(
    gcloud: tuple[dict[str, str], Path],
) -> None:
    environment, _ = gcloud
    with pytest.raises(KeyboardInterrupt):
        EventarcBrake(run=crashing_run("modify-push-config")).engage(OUTPUTS)
    brake = EventarcBrake()
    status = brake.status(OUTPUTS)  # one subscription recorded and labelled, none paused: said so
    assert not status.braked and status.since
    assert any("pushes again although it is labelled" in note for note in status.notes)
    done = brake.engage(OUTPUTS)
    assert done.braked and done.since == status.since
    assert any(change.startswith("paused") and "(completing the brake labelled at" in change for change in done.changed)
    assert all(s["pushConfig"] == {} for s in subscriptions(environment).values())
    assert len({s["labels"][LABEL] for s in subscriptions(environment).values()}) == 1  # one brake, one time
    brake.release(OUTPUTS)
    assert [s["pushConfig"] for s in subscriptions(environment).values()] == [push_config(k) for k in KINDS]


def test_a_release_killed_between_restoring_and_unlabelling_is_completed_by_releasing_again(
    gcloud: tuple[dict[str, str], Path],
) -> None:
    environment, _ = gcloud
    EventarcBrake().engage(OUTPUTS)
    with pytest.raises(KeyboardInterrupt):
        EventarcBrake(run=crashing_run(f"--remove-labels={LABEL}")).release(OUTPUTS)
    again = EventarcBrake().release(OUTPUTS)
    assert not again.braked and again.since is None
    assert [c.split(" ")[0] for c in again.changed] == ["removed"] + ["restored", "removed"] * 2
    assert [s["pushConfig"] for s in subscriptions(environment).values()] == [push_config(k) for k in KINDS]
    assert fake_gcloud.state(environment)["objects"] == {}


# -- a backfill posts past the brake: it refuses to start while the brake is on ----------------------------------


def test_a_backfill_refuses_to_start_while_braked_and_renders_once_released(
    gcloud: tuple[dict[str, str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    gcs_client: Any,
    gcs_new_bucket: Any,
    gcp_function_server: Any,
) -> None:
    """``polythumb backfill --target gcp`` posts to the function's URL, not through the Eventarc subscriptions the
    brake pauses: on a braked deployment it stops before listing or sending anything, with a classified error
    naming the brake and ``polythumb release gcp``; released, the same command renders."""
    from providers.gcp.storage import GcsStorage
    from tests.images import jpeg_bytes

    monkeypatch.setattr(brake_cli, "deployment_outputs", lambda provider, workdir: OUTPUTS)
    source = GcsStorage(gcs_new_bucket("src"), client=gcs_client)
    dest = GcsStorage(gcs_new_bucket("thumbs"), client=gcs_client)
    for index in range(3):
        source.put(f"photos/{index}.jpg", jpeg_bytes(80, 60), content_type="image/jpeg")
    function = gcp_function_server(
        "handle_cloud_event", "cloudevent", {"THUMBS_DEST_BUCKET": dest.bucket, "THUMBS_SIZES": "32x32"}
    )
    for name in [name for name in os.environ if name.startswith("THUMBS_")]:  # the operator's settings only
        monkeypatch.delenv(name)
    command = ["backfill", source.bucket, "--target", "gcp", "--out", dest.bucket, "--sizes", "32x32",
               "--sink-option", f"url={function.url}", "--checkpoint", str(tmp_path / "checkpoint.json"),
               "--json", "--no-progress"]  # fmt: skip

    assert main(["brake", "gcp"]) == 0
    capsys.readouterr()
    log = gcloud[1]
    calls = len(fake_gcloud.calls(log))
    assert main(command) == 1
    *looked, refusal = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("$ gcloud ") for line in looked)  # the brake's state, read as the commands read it
    assert refusal.startswith("polythumb: braked: the Google Cloud deployment is braked since "), refusal
    assert "`polythumb release gcp`" in refusal and "Nothing was sent" in refusal
    assert [c for c in fake_gcloud.calls(log)[calls:] if c[2] != "describe"] == []  # it only looked
    assert list(dest.list()) == [] and not [r for r in function.records() if r.get("status")]  # nothing posted
    assert not (tmp_path / "checkpoint.json").exists()  # nothing started

    assert main(["release", "gcp"]) == 0
    capsys.readouterr()
    assert main(command) == 0
    assert json.loads(capsys.readouterr().out)["sent"] == 3
    assert sorted(info.key for info in dest.list()) == [f"photos/{index}-32x32.jpg" for index in range(3)]
