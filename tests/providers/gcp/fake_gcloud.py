"""A stand-in ``gcloud`` on PATH for the tests of ``polythumb brake|release gcp``: it records its arguments and
keeps Eventarc triggers, Pub/Sub subscriptions and Cloud Storage objects in a JSON file.

It answers the commands the brake runs, the way gcloud answers them (``describe --format=json``, the
``update`` flags, ``modify-push-config`` turning a subscription into pull when the endpoint is empty, and
into push otherwise, ``storage cp|cat|rm``), and refuses anything else: it tests polythumb's commands and
its reading of the answers, not Google Cloud.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

SCRIPT = r"""#!{python}
import json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_GCLOUD_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\n")
path = os.environ["FAKE_GCLOUD_STATE"]
with open(path, encoding="utf-8") as handle:
    state = json.load(handle)


def flag(name):
    for arg in args:
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def save():
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(state, handle)


def fail(message):
    sys.stderr.write("ERROR: (gcloud) " + message + "\n")
    sys.exit(1)


if args[:3] == ["eventarc", "triggers", "describe"]:
    trigger = state["triggers"].get(args[3]) or fail("NOT_FOUND: trigger " + args[3])
    print(json.dumps(trigger))
elif args[:2] == ["pubsub", "subscriptions"]:
    name = args[3]
    subscription = state["subscriptions"].get(name) or fail("NOT_FOUND: subscription " + name)
    if args[2] == "describe":
        print(json.dumps(subscription))
    elif args[2] == "update":
        labels = subscription.setdefault("labels", {{}})
        for arg in args[4:]:
            key, _, value = arg.partition("=")
            if key == "--update-labels":
                label, _, text = value.partition("=")
                labels[label] = text
            elif key == "--remove-labels":
                labels.pop(value, None)
            elif key == "--message-retention-duration":
                days = {{"7d": 604800, "1d": 86400}}[value]
                subscription["messageRetentionDuration"] = str(days) + "s"
            else:
                fail("unrecognized arguments: " + arg)
        save()
    elif args[2] == "modify-push-config":
        endpoint = flag("--push-endpoint")
        if endpoint is None:
            fail("argument --push-endpoint: Must be specified.")
        push = {{}}
        if endpoint:
            push = {{"pushEndpoint": endpoint, "attributes": {{"x-goog-version": "v1"}}}}
            account, audience = flag("--push-auth-service-account"), flag("--push-auth-token-audience")
            if account:
                push["oidcToken"] = {{"serviceAccountEmail": account}}
                if audience:
                    push["oidcToken"]["audience"] = audience
            if "--push-no-wrapper" in args:
                push["noWrapper"] = {{"writeMetadata": "--push-no-wrapper-write-metadata" in args}}
        subscription["pushConfig"] = push
        save()
    else:
        fail("unknown command " + args[2])
elif args[:2] == ["storage", "cp"]:
    with open(args[2], encoding="utf-8") as handle:
        state["objects"][args[3]] = handle.read()
    save()
elif args[:2] == ["storage", "cat"]:
    if args[2] not in state["objects"]:
        fail("The following URLs matched no objects or files: " + args[2])
    sys.stdout.write(state["objects"][args[2]])
elif args[:2] == ["storage", "rm"]:
    state["objects"].pop(args[2], None) if args[2] in state["objects"] else fail("No URLs matched: " + args[2])
    save()
else:
    fail("unknown command " + " ".join(args[:3]))
"""


def install(bin_dir: Path, state: dict[str, Any]) -> tuple[dict[str, str], Path]:
    """Write ``bin_dir/gcloud`` keeping ``state`` (``triggers``, ``subscriptions``, ``objects``); returns the
    environment that puts it first on PATH, and the log of its calls.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "gcloud"
    script.write_text(SCRIPT.format(python=sys.executable), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    path = bin_dir / "gcloud-state.json"
    path.write_text(json.dumps({"objects": {}, **state}), encoding="utf-8")
    log = bin_dir / "gcloud.log"
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_GCLOUD_LOG": str(log),
        "FAKE_GCLOUD_STATE": str(path),
    }
    return environment, log


def state(environment: dict[str, str]) -> dict[str, Any]:
    """What the stand-in holds now."""
    loaded: dict[str, Any] = json.loads(Path(environment["FAKE_GCLOUD_STATE"]).read_text(encoding="utf-8"))
    return loaded


def calls(log: Path) -> list[list[str]]:
    """The argument lists ``gcloud`` was called with, in order."""
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
