"""``polythumb brake <cloud>`` and ``polythumb release <cloud>``: stop rendering in one command, losing nothing.

A runaway -- a loop, a duplicate fan-out, a backfill gone wrong -- costs money per render. The brake stops
the renders while every event keeps waiting where the platform holds it (a queue, a paused subscription),
and release puts back exactly the setting that was there before, so the backlog is delivered. Both are
idempotent: braking a braked deployment or releasing a released one changes nothing, and ``--status``
only reads. What each cloud turns, and where and for how long its events wait, is the provider's
:class:`Brake` (``ProviderSpec.brake``); the deployment is read from its Terraform outputs, as ``verify``
reads it. Nothing here names a cloud. See docs/brake.md.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from core import registry
from core.brake import BrakeState
from core.errors import Braked, PolythumbError
from core.ops.console import EXIT_OK
from core.ops.deploy import deployment_outputs


class Brake(Protocol):
    """What one provider does for ``brake`` and ``release`` (``ProviderSpec.brake``).

    Each method reads the deployment from its Terraform ``outputs`` and returns the state it leaves.
    """

    def status(self, outputs: Mapping[str, Any]) -> BrakeState:
        """Read the brake's controls and the waiting events; change nothing."""
        ...

    def engage(self, outputs: Mapping[str, Any]) -> BrakeState:
        """Record the controls' settings (once), then stop rendering; a braked deployment stays as it is."""
        ...

    def release(self, outputs: Mapping[str, Any]) -> BrakeState:
        """Put back the recorded settings and deliver what waited; a deployment not braked stays as it is."""
        ...

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """Variables that point the provider's SDK at an emulator at ``endpoint``."""
        ...


def add_parsers(commands: Any) -> None:
    """Register ``brake`` and ``release`` on the CLI's sub-command parsers."""
    names = registry.names()
    brake = commands.add_parser(
        "brake", help="stop a deployment rendering, keeping every event waiting (--status: only look)"
    )
    brake.add_argument("provider", choices=names)
    brake.add_argument("--status", action="store_true", help="print the brake's state and the waiting events only")
    release = commands.add_parser("release", help="undo `polythumb brake`: restore the settings, deliver the backlog")
    release.add_argument("provider", choices=names)
    for parser in (brake, release):
        parser.add_argument("--workdir", type=Path, help="where `polythumb deploy` ran (default: the deploy folder)")
        parser.add_argument("--endpoint", help="an emulator's URL instead of the cloud (moto)")
        parser.add_argument("--json", action="store_true", help="print the state as one JSON object")


def brake_command(args: argparse.Namespace) -> int:
    """``polythumb brake <provider> [--status]`` and ``polythumb release <provider>``."""
    spec = registry.get(args.provider)
    brake: Brake = spec.resolve("brake")
    outputs = deployment_outputs(spec.name, args.workdir or spec.deploy_folder)
    if args.endpoint:  # the provider's SDK reads its endpoint and credentials from the environment
        os.environ.update(brake.emulator_environment(args.endpoint))
    if args.command == "release":
        state = brake.release(outputs)
    elif args.status:
        state = brake.status(outputs)
    else:
        state = brake.engage(outputs)
    command = None if args.command == "brake" and args.status else args.command
    print(json.dumps(state.to_dict()) if args.json else state.describe(spec.title, command=command))
    return EXIT_OK


def check_backfill(spec: registry.ProviderSpec, *, workdir: Path | None = None) -> str | None:
    """Refuse a backfill of ``spec``'s deployment while it is braked, where the backfill would render past the
    brake (``ProviderSpec.backfill_bypasses_brake``: it posts to the function, not through what the brake holds).

    A backfill whose sends the brake holds (a queue the stopped function reads) goes ahead: its work waits with
    the other events. The deployment is read from its Terraform outputs (``workdir``, else the provider's deploy
    folder), as ``polythumb brake`` reads it.

    Returns:
        None when the backfill may go ahead; a note when the brake could not be read (no Terraform outputs, the
        cloud's CLI failed), which the caller prints: the backfill goes ahead unchecked.

    Raises:
        Braked: the brake is on, or half on (a record is there), naming ``polythumb release <cloud>``.
    """
    if not spec.backfill_bypasses_brake or not spec.brake:
        return None
    brake: Brake = spec.resolve("brake")
    folder = workdir or spec.deploy_folder
    try:
        state = brake.status(deployment_outputs(spec.name, folder))
    except PolythumbError as exc:
        return (
            f"the {spec.title} brake was not checked ({exc}); a backfill posts to the function directly and renders "
            f"even while `polythumb brake {spec.name}` is on (--workdir: where `polythumb deploy {spec.name}` ran)"
        )
    if state.braked or state.since:
        since = f" since {state.since}" if state.since else ""
        raise Braked(
            f"the {spec.title} deployment is braked{since} (`polythumb brake {spec.name}`): a backfill posts to the "
            f"function directly, past the brake, and would render while it is on. Nothing was sent. Run "
            f"`polythumb release {spec.name}` first (`polythumb brake {spec.name} --status` shows the brake)"
        )
    return None
