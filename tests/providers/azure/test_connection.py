"""Connections resolved the way Azure Functions resolves them; secrets never shown."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from providers.azure.connection import blob_service_client, resolve_connection, retry_policy
from providers.azure.settings import AzureSettings, load_azure_settings

SECRET = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="
CONNECTION_STRING = (
    f"DefaultEndpointsProtocol=https;AccountName=photos;AccountKey={SECRET};EndpointSuffix=core.windows.net"
)


def test_connection_string_in_the_named_setting() -> None:
    connection = resolve_connection("AzureWebJobsStorage", environ={"AzureWebJobsStorage": CONNECTION_STRING})
    assert connection.connection_string == CONNECTION_STRING
    assert not connection.identity_based
    assert SECRET not in repr(connection)
    assert SECRET not in connection.describe()
    assert "photos" in connection.describe()


def test_azurewebjobs_prefixed_setting_and_case_insensitive_names() -> None:
    prefixed = resolve_connection("Images", environ={"AzureWebJobsImages": CONNECTION_STRING})
    assert prefixed.connection_string == CONNECTION_STRING
    folded = resolve_connection("AzureWebJobsStorage", environ={"AZUREWEBJOBSSTORAGE": CONNECTION_STRING})
    assert folded.connection_string == CONNECTION_STRING


def test_identity_based_with_account_name() -> None:
    connection = resolve_connection("AzureWebJobsStorage", environ={"AzureWebJobsStorage__accountName": "photos"})
    assert connection.identity_based
    assert connection.account_url == "https://photos.blob.core.windows.net"
    assert connection.credential_kind == "default"
    assert "photos.blob.core.windows.net" in connection.describe()


def test_identity_based_with_service_uri_managed_identity_and_client_id() -> None:
    environ = {
        "PolythumbImages__blobServiceUri": "https://photos.blob.core.chinacloudapi.cn/",
        "PolythumbImages__credential": "managedidentity",
        "PolythumbImages__clientId": "11111111-2222-3333-4444-555555555555",
        "AzureWebJobsStorage": CONNECTION_STRING,  # another connection's setting is not used
    }
    connection = resolve_connection("PolythumbImages", environ=environ)
    assert connection.account_url == "https://photos.blob.core.chinacloudapi.cn"
    assert connection.credential_kind == "managedidentity"
    assert connection.client_id == "11111111-2222-3333-4444-555555555555"


def test_a_connection_string_wins_over_identity_settings() -> None:
    environ = {"Images": CONNECTION_STRING, "Images__accountName": "other"}
    assert resolve_connection("Images", environ=environ).connection_string == CONNECTION_STRING


def test_missing_connection_names_the_settings_to_set() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_connection("PolythumbImages", environ={"AzureWebJobsStorage": CONNECTION_STRING})
    message = str(caught.value)
    for setting in ("PolythumbImages", "PolythumbImages__blobServiceUri", "PolythumbImages__accountName"):
        assert setting in message
    assert SECRET not in message


def test_a_value_that_is_not_a_connection_string_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="not a storage connection string") as caught:
        resolve_connection("AzureWebJobsStorage", environ={"AzureWebJobsStorage": SECRET})
    assert SECRET not in str(caught.value)


def test_plain_http_identity_endpoint_is_refused() -> None:
    with pytest.raises(ConfigError, match="https"):
        resolve_connection("S", environ={"S__blobServiceUri": "http://photos.blob.core.windows.net"})


def test_identity_client_is_built_without_touching_the_network() -> None:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    default = blob_service_client(resolve_connection("S", environ={"S__accountName": "photos"}))
    assert default.url.startswith("https://photos.blob.core.windows.net")
    assert isinstance(default.credential, DefaultAzureCredential)
    managed = blob_service_client(
        resolve_connection("S", environ={"S__accountName": "photos", "S__credential": "managedidentity"})
    )
    assert isinstance(managed.credential, ManagedIdentityCredential)


def test_retry_policy_is_bounded() -> None:
    policy = retry_policy()
    assert policy.total_retries == 3
    settings = {"count": 3}
    assert policy.get_backoff_time(settings) <= 1 + 2**3 + 1  # the longest single wait, jitter included


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, AzureSettings(None, "AzureWebJobsStorage")),
        ({"THUMBS_SOURCE_CONTAINER": "images", "THUMBS_STORAGE_CONNECTION": "PolythumbImages"},
         AzureSettings("images", "PolythumbImages")),
        ({"THUMBS_SOURCE_CONTAINER": "  ", "THUMBS_STORAGE_CONNECTION": ""},
         AzureSettings(None, "AzureWebJobsStorage")),
    ],
)  # fmt: skip
def test_azure_settings(environ: dict[str, str], expected: AzureSettings) -> None:
    assert load_azure_settings(environ) == expected


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"THUMBS_SOURCE_CONTAINER": "Images"}, "THUMBS_SOURCE_CONTAINER"),
        ({"THUMBS_SOURCE_CONTAINER": "a--b"}, "THUMBS_SOURCE_CONTAINER"),
        ({"THUMBS_SOURCE_CONTAINER": "ab"}, "THUMBS_SOURCE_CONTAINER"),
        ({"THUMBS_STORAGE_CONNECTION": "Images__accountName"}, "THUMBS_STORAGE_CONNECTION"),
        ({"THUMBS_STORAGE_CONNECTION": "has space"}, "THUMBS_STORAGE_CONNECTION"),
    ],
)
def test_invalid_azure_settings_name_the_setting(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        load_azure_settings(environ)


def test_the_runtime_accepts_and_validates_the_azure_settings_at_start() -> None:
    """The function's own settings are declared once (the descriptor) and validated with the shared ones."""
    from core.runtime import FunctionRuntime
    from core.storage import MemoryStorage

    environ = {"THUMBS_DEST_BUCKET": "thumbs", "THUMBS_SOURCE_CONTAINER": "images", "THUMBS_BACKFILL_QUEUE": "work"}
    assert FunctionRuntime(MemoryStorage, environ=environ, provider="azure").config.dest_bucket == "thumbs"
    for name, bad in [("THUMBS_SOURCE_CONTAINER", "Images"), ("THUMBS_BACKFILL_QUEUE", "Bad_Queue"),
                      ("THUMBS_STORAGE_CONNECTION", "a__b")]:  # fmt: skip
        with pytest.raises(ConfigError, match=f"{name}='{bad}' is not valid; accepted values: "):
            FunctionRuntime(MemoryStorage, environ={**environ, name: bad}, provider="azure")
