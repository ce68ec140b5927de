"""A stand-in ``az`` on PATH for the tests of ``polythumb deploy|verify|brake|release azure`` and of the
Terraform's ``local-exec``: it records its arguments and keeps one app's settings in a file.

``functionapp config appsettings list`` answers with those settings, through ``--query`` (JMESPath, as
``az`` evaluates it) and ``--output json|tsv``; ``... delete --setting-names N...`` removes them.

For the brake, it also keeps Azure Resource Manager resources (``arm``): ``rest --method get|put`` on an
Event Grid subscription (a PUT replaces its properties, as the API does: :func:`put_subscription`, which
the Resource Manager stand-in of the automatic brake's tests shares, tests/providers/azure/fake_arm.py),
``rest --method post .../getFullUrl`` (the webhook URL with its key, which a GET never shows), and
``functionapp show|stop|start|keys list``. It tests polythumb's commands and its reading of the answers, not
Azure.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: The repository (the script imports :func:`put_subscription` from here, as the ARM stand-in does).
ROOT = Path(__file__).resolve().parents[3]


class Refused(Exception):
    """Resource Manager refuses the request (``Bad Request: ...``)."""


def put_subscription(resources: dict[str, Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A PUT of an Event Grid subscription on the state ``resources``, as the API answers it: the properties
    replaced, refusing a body with both ``destination`` and ``deliveryWithResourceIdentity``, or a webhook whose
    key is not the app's, or whose app is stopped (Event Grid's validation handshake fails then).

    Raises:
        Refused: what the API refuses.
    """
    properties = dict(body["properties"])
    if properties.get("destination") and properties.get("deliveryWithResourceIdentity"):
        raise Refused("Bad Request: destination and deliveryWithResourceIdentity cannot both be set")
    destination = properties.get("destination") or {}
    full_url = None
    if destination.get("endpointType") == "WebHook":
        url = destination["properties"].pop("endpointUrl")
        app = resources["apps"][resources["webhook_app"]]
        code = parse_qs(urlsplit(url).query).get("code", [None])[0]
        if app["state"] != "Running" or code != app["blobs_extension"]:
            raise Refused("Bad Request: Webhook validation handshake failed for " + url.split("?")[0])
        destination["properties"]["endpointBaseUrl"] = url.split("?")[0]
        full_url = url
    properties.update({"provisioningState": "Succeeded", "topic": path.split("/eventSubscriptions/", maxsplit=1)[0]})
    resource = {"id": path, "name": path.rsplit("/", 1)[1], "properties": properties}
    resources["resources"][path] = resource
    if full_url:
        resources["full_urls"][path] = full_url
    return resource

SCRIPT = r"""#!{python}
import json, os, sys

import jmespath

sys.path.insert(0, {root!r})
from tests.providers.azure.fake_az import Refused, put_subscription

args = sys.argv[1:]
with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\n")


def option(name, default=None):
    return args[args.index(name) + 1] if name in args else default


def arm():
    with open(os.environ["FAKE_AZ_ARM"], encoding="utf-8") as handle:
        return json.load(handle)


def save_arm(resources):
    with open(os.environ["FAKE_AZ_ARM"], "w", encoding="utf-8") as handle:
        json.dump(resources, handle)


def refuse(message):
    sys.stderr.write("ERROR: " + message + "\n")
    sys.exit(1)


if args[:1] == ["rest"]:
    url = option("--url")
    path = url.split("management.azure.com", 1)[1].split("?", 1)[0]
    resources = arm()
    method = option("--method")
    if method == "post" and path.endswith("/getFullUrl"):
        print(json.dumps({{"endpointUrl": resources["full_urls"][path[: -len("/getFullUrl")]]}}))
    elif method == "get":
        if path not in resources["resources"]:
            refuse("Not Found: " + path)
        print(json.dumps(resources["resources"][path]))
    elif method == "put":
        with open(option("--body")[1:], encoding="utf-8") as handle:
            try:
                put_subscription(resources, path, json.load(handle))
            except Refused as exc:
                refuse(str(exc))
        save_arm(resources)
        print(json.dumps(resources["resources"][path]))
    else:
        refuse("unsupported: " + " ".join(args))
    sys.exit(0)

if args[:1] == ["functionapp"] and args[1] in ("show", "stop", "start", "keys"):
    resources = arm()
    app = resources["apps"][option("--ids")]
    if args[1] == "show":
        print(app[option("--query")])
    elif args[1] == "keys":
        print(app["blobs_extension"])
    else:
        app["state"] = "Stopped" if args[1] == "stop" else "Running"
        save_arm(resources)
    sys.exit(0)

if args[:3] == ["functionapp", "config", "appsettings"]:
    status = int(os.environ.get("FAKE_AZ_STATUS", "0"))
    if status:
        sys.stderr.write("ERROR: (AuthorizationFailed) the client has no authorization to read app settings\n")
        sys.exit(status)
    state = os.environ["FAKE_AZ_STATE"]
    with open(state, encoding="utf-8") as handle:
        names = json.load(handle)
    if args[3] == "delete":
        gone = set(args[args.index("--setting-names") + 1 :])
        with open(state, "w", encoding="utf-8") as handle:
            json.dump([name for name in names if name not in gone], handle)
        sys.exit(0)
    settings = [{{"name": name, "value": "...", "slotSetting": False}} for name in names]
    query = option("--query")
    result = jmespath.search(query, settings) if query else settings
    if option("--output", "json") == "tsv":
        print("\n".join(str(item) for item in result))
    else:
        print(json.dumps(result))
"""


def install(
    bin_dir: Path, *, names: Sequence[str], status: int = 0, arm: dict[str, Any] | None = None
) -> tuple[dict[str, str], Path]:
    """Write ``bin_dir/az`` for an app with settings ``names``; returns the environment that puts it first on
    PATH, and the log of its calls (``status`` non-zero: every app-settings call fails with it). ``arm``:
    ``resources`` (id -> resource), ``apps`` (id -> ``state``, ``blobs_extension``) and ``webhook_app``.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "az"
    script.write_text(SCRIPT.format(python=sys.executable, root=str(ROOT)), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    state = bin_dir / "az-settings.json"
    state.write_text(json.dumps(list(names)), encoding="utf-8")
    log = bin_dir / "az.log"
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_AZ_LOG": str(log),
        "FAKE_AZ_STATE": str(state),
        "FAKE_AZ_STATUS": str(status),
    }
    if arm is not None:
        resources = bin_dir / "az-arm.json"
        resources.write_text(json.dumps({"full_urls": {}, "webhook_app": "", **arm}), encoding="utf-8")
        environment["FAKE_AZ_ARM"] = str(resources)
    return environment, log


def resources(environment: dict[str, str]) -> dict[str, Any]:
    """The Resource Manager state now (``resources``, ``apps``, ``full_urls``)."""
    state: dict[str, Any] = json.loads(Path(environment["FAKE_AZ_ARM"]).read_text(encoding="utf-8"))
    return state


def settings(environment: dict[str, str]) -> list[str]:
    """The names of the app's settings now."""
    return list(json.loads(Path(environment["FAKE_AZ_STATE"]).read_text(encoding="utf-8")))


def calls(log: Path) -> list[list[str]]:
    """The argument lists ``az`` was called with, in order."""
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
