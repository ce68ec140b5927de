"""Dot segments on Azure: the HTTP stack resolves them, so polythumb never renders a key that has one.

azure-storage-blob puts a blob's name in the request path unencoded but for ``%``-escapes, and the HTTP
client resolves ``.`` and ``..`` segments before sending (RFC 3986's remove_dot_segments): the blob
``dst/../victim/k`` is written into the container ``victim``, ``dst/a/../k`` to ``dst/k``. A shared key
signs the path as written, so Azure answers 403 to the resolved request; a credential that does not sign
the path (an Entra ID token, as a managed identity uses, or an account SAS, used here) writes it wherever
the identity's role allows. A source key that puts such a segment into an output key (through ``{dir}``,
``{stem}`` or ``{name}``) is refused as a permanent ``invalid_key`` before any request; a 403 from the
store is ``permission_denied``, retried, never an ``internal_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from core.config import load_config
from core.delivery import handle
from core.events import ObjectEvent
from core.outcome import Status
from core.pipeline import Thumbnailer
from core.runtime import FunctionRuntime
from tests.images import jpeg_bytes


def _blobs(service: Any, *containers: str) -> dict[str, list[str]]:
    return {name: sorted(blob.name for blob in service.get_container_client(name).list_blobs()) for name in containers}


@pytest.fixture
def unsigned_path_service(azurite: Any) -> Any:
    """A client whose credential does not sign the request path (an account SAS, like an Entra ID token)."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import AccountSasPermissions, BlobServiceClient, ResourceTypes, generate_account_sas

    from tests.providers.azure.emulator import ACCOUNT_KEY, ACCOUNT_NAME

    sas = generate_account_sas(
        ACCOUNT_NAME, ACCOUNT_KEY, ResourceTypes(container=True, object=True),
        AccountSasPermissions(read=True, write=True, delete=True, list=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip
    return BlobServiceClient(azurite.blob_endpoint, credential=sas)


def test_the_http_stack_resolves_dot_segments_into_another_container(
    unsigned_path_service: Any, new_container: Callable[..., str]
) -> None:
    """The premise, shown on Azurite: a blob name with '..' is written into another container."""
    dst, victim = new_container("dst"), new_container("victim")
    unsigned_path_service.get_blob_client(dst, f"../{victim}/planted.jpg").upload_blob(b"x")
    assert _blobs(unsigned_path_service, dst, victim) == {dst: [], victim: ["planted.jpg"]}


@pytest.mark.parametrize(
    ("source_key", "template"),
    [
        ("../{victim}/p.jpg", "{dir}/{stem}-{size}.{ext}"),  # {dir} climbs out of the destination container
        ("a/../p.jpg", "{dir}/{stem}-{size}.{ext}"),  # {dir} folds onto another path of the container
        ("./p.jpg", "thumbs/{dir}/{stem}-{size}.{ext}"),
        ("a/./p.jpg", "{dir}/{name}-{size}.{ext}"),
    ],
)
def test_a_source_whose_output_key_has_a_dot_segment_is_refused_and_nothing_is_written(
    unsigned_path_service: Any, new_container: Callable[..., str], source_key: str, template: str
) -> None:
    from providers.azure.storage import AzureBlobStorage

    src, dst, victim = new_container("src"), new_container("dst"), new_container("victim")
    azure_service = unsigned_path_service
    source_key = source_key.format(victim=victim)
    body = jpeg_bytes(64, 48)
    # Wherever the HTTP stack would resolve the source key to, a source is there to be read.
    for container in (src, victim):
        azure_service.get_blob_client(container, "p.jpg").upload_blob(body)
    azure_service.get_blob_client(src, "a/p.jpg").upload_blob(body)
    before = _blobs(azure_service, src, dst, victim)
    stores = {name: AzureBlobStorage(name, service=azure_service) for name in (src, dst, victim)}
    config = load_config({"THUMBS_DEST_BUCKET": dst, "THUMBS_SIZES": "32x32", "THUMBS_KEY_TEMPLATE": template})

    outcome = Thumbnailer(config, stores.__getitem__).handle(ObjectEvent.created(src, source_key))

    assert (outcome.status, outcome.error_kind) == (Status.FAILED, "invalid_key"), outcome.error_message
    assert "'.' or '..' segment" in (outcome.error_message or "")
    assert _blobs(azure_service, src, dst, victim) == before  # nothing written anywhere
    # A delete event of that key removes nothing either (it would find the same resolved keys).
    deleted = Thumbnailer(config, stores.__getitem__).handle(ObjectEvent.deleted(src, source_key))
    assert (deleted.status, deleted.error_kind) == (Status.FAILED, "invalid_key")
    assert _blobs(azure_service, src, dst, victim) == before


def test_a_403_from_blob_storage_is_permission_denied_and_retried(
    azure_service: Any, new_container: Callable[..., str], azurite: Any
) -> None:
    """A destination the function may read but not write: RBAC's 403, as the issue's attacker met it."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    from providers.azure.storage import AzureBlobStorage
    from tests.providers.azure.emulator import ACCOUNT_KEY, ACCOUNT_NAME

    src, dst = new_container("src"), new_container("dst")
    azure_service.get_blob_client(src, "p.jpg").upload_blob(jpeg_bytes(64, 48))
    read_only = generate_container_sas(
        ACCOUNT_NAME, dst, account_key=ACCOUNT_KEY, permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip
    limited = BlobServiceClient(azurite.blob_endpoint, credential=read_only)
    stores = {src: AzureBlobStorage(src, service=azure_service), dst: AzureBlobStorage(dst, service=limited)}
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test-permission-denied")
    logger.addHandler(Keep())
    logger.propagate = False
    runtime = FunctionRuntime(
        stores.__getitem__, environ={"THUMBS_DEST_BUCKET": dst, "THUMBS_SIZES": "32x32"}, logger=logger
    )

    result = handle(runtime, ObjectEvent.created(src, "p.jpg"), {"route": "test"})

    assert result.status is Status.ERROR and result.retryable  # waits for a fixed grant, not acknowledged
    [record] = records
    fields = record.fields  # type: ignore[attr-defined]
    assert (record.levelname, fields["error_kind"], fields["status"]) == ("ERROR", "permission_denied", "error")
    assert record.exc_info is None  # configuration, not a bug: no traceback
    assert _blobs(azure_service, dst) == {dst: []}
