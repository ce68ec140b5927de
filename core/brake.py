"""What a brake reports: whether a deployment renders, how it was stopped, and where its events wait.

``polythumb brake <cloud>`` stops rendering without dropping an event and ``polythumb release <cloud>``
undoes exactly what it did (:mod:`core.ops.brake`); each provider turns its own controls. This module holds
only the shared report, so a provider's code that runs inside a function (an automatic brake) can return it
without importing the operator tools.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any


def utc_now() -> str:
    """The current time as the brake records it: ISO 8601, UTC, to the second (``2026-01-31T12:00:00Z``)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class BrakeState:
    """One deployment's brake, as read from the cloud.

    Attributes:
        braked: Every control the brake turns is in its braked position: nothing renders.
        since: When the brake went on (its record), or None when there is no record.
        controls: Each control the brake turns and its state now (``"event source mapping 1f2e: Disabled"``).
        waiting: Where events wait, with counts where the cloud gives them, and for how long they are kept.
        notes: What the operator should know: limits, what release does, anything half-done.
        changed: What the command that returned this state changed, one line per change; empty when it
            changed nothing (braking a braked deployment, releasing one that is not braked, ``--status``).
    """

    braked: bool
    since: str | None = None
    controls: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "braked": self.braked,
            "since": self.since,
            "controls": list(self.controls),
            "waiting": list(self.waiting),
            "notes": list(self.notes),
            "changed": list(self.changed),
        }

    def with_changes(self, changes: list[str] | tuple[str, ...]) -> BrakeState:
        """This state, reporting ``changes`` as what the command did."""
        return replace(self, changed=tuple(changes))

    def describe(self, title: str, *, command: str | None = None) -> str:
        """A few human lines, headed by the cloud's ``title``; ``command`` (brake, release) says what it did."""
        if self.braked:
            head = f"{title}: BRAKED" + (f" since {self.since}" if self.since else " (no brake record)")
        else:
            head = f"{title}: rendering (not braked)"
        if not self.braked and self.since:
            head += f"; a brake record from {self.since} is still there"
        lines = [head]
        lines += [f"  did      {line}" for line in self.changed]
        if command and not self.changed:
            lines.append(f"  did      nothing: {command} changed no setting (see the state below)")
        lines += [f"  control  {line}" for line in self.controls]
        lines += [f"  waiting  {line}" for line in self.waiting]
        lines += [f"  note     {line}" for line in self.notes]
        return "\n".join(lines)
