"""``polythumb verify azure --endpoint <Azurite>``: the verifier against the Functions app's Event Grid trigger.

Azurite emits no Event Grid events, so a relay stands in for Event Grid: it lists the source container
and hands ``on_event_grid`` (found through ``app.get_functions()`` after a cold start with the test's
settings, as the worker indexes it) the ``BlobCreated`` event of each new blob version and the
``BlobDeleted`` event of each blob gone, decoded by the worker's own converter.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.providers.azure import fake_az
from tests.providers.azure.emulator import Azurite
from tests.verify_support import (
    PROFILE_CHECKS,
    PROFILE_OUTPUTS,
    PROFILE_SETTINGS,
    SETTINGS,
    ListingDiff,
    Relay,
    ServeRelay,
    assert_served,
    assert_verified,
    run_verify,
)

from .delivery import as_host_response, as_http_request, as_worker_context, as_worker_event, blob_event

pytestmark = pytest.mark.azure


def event_grid_relay(
    service: Any, container: str, on_event_grid: Callable[[Any, Any], None], *, latency: float = 0.0
) -> Callable[[], None]:
    """Event Grid: the events of what changed in ``container`` since the last step, delivered ``latency`` seconds
    after they were seen (Event Grid's delivery is not instant, which the serve step's first request relies on)."""
    diff = ListingDiff()

    def step() -> None:
        listing = {blob.name: (blob.etag, blob) for blob in service.get_container_client(container).list_blobs()}
        created, deleted = diff.update(listing)
        if created or deleted:
            time.sleep(latency)
        for name in created:
            url = service.get_blob_client(container, name).url
            event = blob_event(container, name, schema="eventgrid", properties=listing[name][1], url=url)
            on_event_grid(as_worker_event(event), as_worker_context("on_event_grid"))
        for name, properties in deleted.items():
            url = service.get_blob_client(container, name).url
            event = blob_event(container, name, schema="eventgrid", kind="deleted", properties=properties, url=url)
            on_event_grid(as_worker_event(event), as_worker_context("on_event_grid"))

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


def test_verify_requests_a_thumbnail_from_the_http_trigger_before_the_event_and_sees_the_event_write_nothing(
    azurite: Azurite, azure_service: Any, new_container: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serve step through the app's real HTTP trigger (``serve_http`` found through ``app.get_functions()`` of
    one cold start with serve.tf's settings, the event trigger's app too) behind a stand-in for the host's HTTP
    front: the first request renders, and the upload's event, delivered after it, writes nothing."""
    from providers.azure.serve import MOUNT

    source, dest = new_container("verify-src"), new_container("verify-dst")
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    settings = {**SETTINGS, "THUMBS_DEST_BUCKET": dest, "THUMBS_SOURCE_CONTAINER": source,
                "THUMBS_SERVE_SOURCE_BUCKET": source}  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("providers.azure.function_app", None)  # a cold start with these settings
    app = importlib.import_module("providers.azure.function_app").app
    functions = {function.get_function_name(): function for function in app.get_functions()}
    on_event_grid, serve_http = (functions[name].get_user_function() for name in ("on_event_grid", "serve_http"))

    def host(method: str, path: str, query: str, headers: Mapping[str, str]) -> tuple[int, Any, bytes]:
        return as_host_response(serve_http(as_http_request(method, MOUNT + path, query, dict(headers))))

    with ServeRelay(host) as front, Relay(event_grid_relay(azure_service, source, on_event_grid, latency=1.5)):
        result = run_verify(
            "azure", "--endpoint", azurite.blob_endpoint, "--source-bucket", source, "--dest-bucket", dest,
            "--timeout", "60", "--serve-url", front.url,
        )  # fmt: skip
    assert_verified(result)
    assert_served(result)  # 200 with the bytes (no URL mode), rendered by the request; then the event wrote nothing
    [(method, path, _)] = front.requests
    assert method == "GET" and path.startswith("/polythumb-verify-") and path.endswith("-160x120.jpg"), path
    assert list(azure_service.get_container_client(dest).list_blobs()) == []


def deployment_state(workdir: Path, outputs: dict[str, Any]) -> None:
    """A Terraform state holding just ``outputs``, as ``terraform output -json`` reads it after an apply."""
    state = {
        "version": 4, "terraform_version": "1.6.0", "serial": 1, "lineage": "polythumb-test", "resources": [],
        "outputs": {name: {"value": value, "type": "string" if isinstance(value, str) else ["map", "string"]}
                    for name, value in outputs.items()},
    }  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "terraform.tfstate").write_text(json.dumps(state))


@pytest.mark.parametrize("host_storage_string", [False, True], ids=["identity-only", "azurewebjobsstorage-present"])
def test_verify_of_a_deployment_checks_that_the_app_has_no_azure_web_jobs_storage(
    azurite: Azurite, azure_service: Any, new_container: Callable[..., str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, host_storage_string: bool,
) -> None:  # fmt: skip
    """Issue 21: the Terraform outputs of a deployment name its app; verify asks ``az`` for its settings' names.

    The thumbnails come from the real entrypoint on Azurite (as above); ``az`` is a stand-in that answers
    with the names a deployment has, with or without the ``AzureWebJobsStorage`` azurerm writes.
    """
    if shutil.which("terraform") is None:
        pytest.skip("terraform (which reads the deployment's outputs) is not installed")
    source, dest = new_container("verify-src"), new_container("verify-dst")
    app_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/acme-thumbs"
    deployment_state(tmp_path / "deploy", {
        "source_container": source, "dest_container": dest, "blob_endpoint": "https://acmeimg.blob.core.windows.net/",
        # Every THUMBS_* app setting, as outputs.tf lists them: the Azure-only ones are read as the function reads them.
        "thumbs_environment": {**SETTINGS, "THUMBS_DEST_BUCKET": dest, "THUMBS_SOURCE_CONTAINER": source,
                               "THUMBS_STORAGE_CONNECTION": "AzureWebJobsStorage"},
        "function_app_id": app_id,
    })  # fmt: skip
    names = ["AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "THUMBS_SIZES"]
    az, log = fake_az.install(tmp_path / "bin", names=[*names, "AzureWebJobsStorage"] if host_storage_string else names)
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in {**SETTINGS, "THUMBS_DEST_BUCKET": dest, "THUMBS_SOURCE_CONTAINER": source}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("providers.azure.function_app", None)
    app = importlib.import_module("providers.azure.function_app").app
    on_event_grid = {f.get_function_name(): f for f in app.get_functions()}["on_event_grid"].get_user_function()
    with Relay(event_grid_relay(azure_service, source, on_event_grid)):
        result = run_verify(
            "azure", "--endpoint", azurite.blob_endpoint, "--workdir", str(tmp_path / "deploy"), "--timeout", "60",
            environment={**az, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"},
        )  # fmt: skip
    [line] = [line for line in result.stdout.splitlines() if line.startswith("no AzureWebJobsStorage app setting")]
    assert ["functionapp", "config", "appsettings", "list", "--ids", app_id] == fake_az.calls(log)[0][:6]
    if host_storage_string:
        assert result.returncode == 1 and " FAIL " in line and "has an AzureWebJobsStorage app setting" in line
        assert result.stdout.rstrip().endswith("FAIL")
    else:
        assert_verified(result)
        assert " pass " in line and "host storage uses the app's identity" in line


def test_verify_walks_every_output_of_a_profiles_deployment(
    azurite: Azurite, azure_service: Any, new_container: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """THUMBS_PROFILES: each profile gets a sample it takes; each size in each format is checked, then deleted."""
    source, dest = new_container("verify-src"), new_container("verify-dst")
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    settings = {**SETTINGS, **PROFILE_SETTINGS, "THUMBS_DEST_BUCKET": dest, "THUMBS_SOURCE_CONTAINER": source}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("providers.azure.function_app", None)  # a cold start with these settings
    app = importlib.import_module("providers.azure.function_app").app
    on_event_grid = {f.get_function_name(): f for f in app.get_functions()}["on_event_grid"].get_user_function()
    with Relay(event_grid_relay(azure_service, source, on_event_grid)):
        result = run_verify(
            "azure", "--endpoint", azurite.blob_endpoint, "--source-bucket", source, "--dest-bucket", dest,
            "--prefix", "uploads/", "--timeout", "60", environment=PROFILE_SETTINGS,
        )  # fmt: skip
    assert_verified(result, labels=PROFILE_CHECKS)
    assert f"{PROFILE_OUTPUTS}/{PROFILE_OUTPUTS} in" in result.stdout
    assert list(azure_service.get_container_client(dest).list_blobs()) == []
    assert list(azure_service.get_container_client(source).list_blobs()) == []
