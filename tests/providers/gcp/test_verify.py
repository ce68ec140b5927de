"""``polythumb verify gcp --endpoint <fake-gcs-server>``: the verifier against the CloudEvent function.

fake-gcs-server emits no events, so a relay stands in for Eventarc: it lists the source bucket and
POSTs to the real function (functions-framework serving ``handle_cloud_event``) the binary-mode
``finalized`` CloudEvent of each new object generation and the ``deleted`` one of each object gone,
built from the object's resource as the emulator returns it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.providers.gcp.emulator import FakeGcs, FunctionServer
from tests.verify_support import (
    PROFILE_CHECKS,
    PROFILE_OUTPUTS,
    PROFILE_SETTINGS,
    SETTINGS,
    ListingDiff,
    Relay,
    assert_verified,
    run_verify,
)

from .deliveries import attributes, post_binary

pytestmark = pytest.mark.gcp

FINALIZED, DELETED = "google.cloud.storage.object.v1.finalized", "google.cloud.storage.object.v1.deleted"


def eventarc_relay(client: Any, bucket: str, server: FunctionServer) -> Callable[[], None]:
    diff = ListingDiff()

    def step() -> None:
        listing = {
            blob.name: (blob.generation, dict(blob._properties))  # the resource GCS puts in the event's data
            for blob in client.list_blobs(bucket)
        }
        created, deleted = diff.update(listing)
        for name in created:
            response = post_binary(server.url, attributes(listing[name][1], FINALIZED), listing[name][1])
            assert response.status_code == 200, server.output()[-2000:]
        for resource in deleted.values():
            response = post_binary(server.url, attributes(resource, DELETED), resource)
            assert response.status_code == 200, server.output()[-2000:]

    return step


def test_verify_passes_against_fake_gcs_with_the_cloud_event_function(
    fake_gcs: FakeGcs, gcs_client: Any, gcs_new_bucket: Callable[[str], str],
    gcp_function_server: Callable[..., FunctionServer],
) -> None:  # fmt: skip
    source, dest = gcs_new_bucket("verify-src"), gcs_new_bucket("verify-dst")
    server = gcp_function_server("handle_cloud_event", "cloudevent", {**SETTINGS, "THUMBS_DEST_BUCKET": dest})
    with Relay(eventarc_relay(gcs_client, source, server)):
        result = run_verify(
            "gcp", "--endpoint", fake_gcs.url, "--source-bucket", source, "--dest-bucket", dest, "--timeout", "60",
            environment={"GOOGLE_CLOUD_PROJECT": "polythumb-test"},
        )  # fmt: skip
    assert_verified(result)
    assert list(gcs_client.list_blobs(dest)) == []


def test_verify_walks_every_output_of_a_profiles_deployment(
    fake_gcs: FakeGcs, gcs_client: Any, gcs_new_bucket: Callable[[str], str],
    gcp_function_server: Callable[..., FunctionServer],
) -> None:  # fmt: skip
    """THUMBS_PROFILES: each profile gets a sample it takes; each size in each format is checked, then deleted."""
    source, dest = gcs_new_bucket("verify-src"), gcs_new_bucket("verify-dst")
    settings = {**SETTINGS, **PROFILE_SETTINGS, "THUMBS_DEST_BUCKET": dest}
    server = gcp_function_server("handle_cloud_event", "cloudevent", settings)
    with Relay(eventarc_relay(gcs_client, source, server)):
        result = run_verify(
            "gcp", "--endpoint", fake_gcs.url, "--source-bucket", source, "--dest-bucket", dest,
            "--prefix", "uploads/", "--timeout", "60",
            environment={**PROFILE_SETTINGS, "GOOGLE_CLOUD_PROJECT": "polythumb-test"},
        )  # fmt: skip
    assert_verified(result, labels=PROFILE_CHECKS)
    assert f"{PROFILE_OUTPUTS}/{PROFILE_OUTPUTS} in" in result.stdout
    assert list(gcs_client.list_blobs(dest)) == [] and list(gcs_client.list_blobs(source)) == []
