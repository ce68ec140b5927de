"""``polythumb backfill --target <cloud>`` and the brake: a backfill that would render past the brake refuses to
start while it is on (the GCP scenario, through the stand-in gcloud: tests/providers/gcp/test_brake.py); one whose
sends the brake holds goes ahead, its work waiting with the other events; where the brake cannot be read, the
backfill says so and goes ahead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core import registry
from core.ops import brake as brake_cli


def _unread(provider: str, workdir: Path) -> dict[str, Any]:
    raise AssertionError(f"the {provider} brake was read, though the brake holds its backfill")


@pytest.mark.parametrize("name", [n for n, spec in registry.providers().items() if not spec.backfill_bypasses_brake])
def test_a_backfill_the_brake_holds_goes_ahead_without_looking(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS sends to the events queue (the disabled mapping holds it), Azure to the backfill queue (the stopped app
    reads it): a braked deployment keeps their work waiting, so the backfill starts as before."""
    monkeypatch.setattr(brake_cli, "deployment_outputs", _unread)
    assert brake_cli.check_backfill(registry.get(name)) is None


def test_only_a_backfill_that_posts_past_the_brake_checks_it() -> None:
    bypassing = {name for name, spec in registry.providers().items() if spec.backfill_bypasses_brake}
    assert bypassing == {"gcp"}  # its backfill posts to the function's URL; the brake pauses the subscriptions
    assert all(registry.get(name).brake for name in bypassing)


def test_an_unreadable_brake_is_said_and_the_backfill_goes_ahead(tmp_path: Path) -> None:
    """No Terraform outputs where the backfill looks (nothing deployed from this folder): a note naming what it
    could not read and --workdir, no refusal."""
    note = brake_cli.check_backfill(registry.get("gcp"), workdir=tmp_path)
    assert note is not None and "brake was not checked" in note and str(tmp_path) in note
    assert "--workdir" in note and "polythumb brake gcp" in note
