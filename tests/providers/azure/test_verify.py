"""``polythumb verify azure --endpoint <Azurite>``: the verifier against the Functions app's Event Grid trigger.

Azurite emits no Event Grid events, so a relay stands in for Event Grid: it lists the source container
and hands ``on_event_grid`` (found through ``app.get_functions()`` after a cold start with the test's
settings, as the worker indexes it) the ``BlobCreated`` event of each new blob version and the
``BlobDeleted`` event of each blob gone, decoded by the worker's own converter.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.providers.azure.emulator import Azurite
from tests.verify_support import SETTINGS, ListingDiff, Relay, assert_verified, run_verify

from .delivery import as_worker_event, blob_event

pytestmark = pytest.mark.azure


def event_grid_relay(service: Any, container: str, on_event_grid: Callable[[Any], None]) -> Callable[[], None]:
    diff = ListingDiff()

    def step() -> None:
        listing = {blob.name: (blob.etag, blob) for blob in service.get_container_client(container).list_blobs()}
        created, deleted = diff.update(listing)
        for name in created:
            url = service.get_blob_client(container, name).url
            on_event_grid(
                as_worker_event(blob_event(container, name, schema="eventgrid", properties=listing[name][1], url=url))
            )
        for name, properties in deleted.items():
            url = service.get_blob_client(container, name).url
            event = blob_event(container, name, schema="eventgrid", kind="deleted", properties=properties, url=url)
            on_event_grid(as_worker_event(event))

    return step


def test_verify_passes_against_azurite_with_the_event_grid_function(
    azurite: Azurite, azure_service: Any, new_container: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest = new_container("verify-src"), new_container("verify-dst")
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in {**SETTINGS, "THUMBS_DEST_BUCKET": dest, "THUMBS_SOURCE_CONTAINER": source}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("providers.azure.function_app", None)  # a cold start with these settings
    app = importlib.import_module("providers.azure.function_app").app
    functions = {function.get_function_name(): function for function in app.get_functions()}
    on_event_grid = functions["on_event_grid"].get_user_function()
    with Relay(event_grid_relay(azure_service, source, on_event_grid)):
        result = run_verify(
            "azure", "--endpoint", azurite.blob_endpoint, "--source-bucket", source, "--dest-bucket", dest,
            "--timeout", "60",
        )  # fmt: skip
    assert_verified(result)
    assert list(azure_service.get_container_client(dest).list_blobs()) == []
