"""The Azure backfill: Storage Queue work items, both ends -- what the CLI sends and what the function reads.

**The message.** One backfill work item is one Storage Queue message whose text is exactly what Event
Grid delivers for an upload: a ``Microsoft.Storage.BlobCreated`` event in the Event Grid schema (``subject``
``/blobServices/default/containers/<container>/blobs/<name>``, ``data.eTag``, ``data.contentLength``,
``data.api = "PolythumbBackfill"``). The queue-triggered function ``on_backfill_queue`` reads it with the
same parser as ``on_event_grid`` (:func:`providers.azure.events.parse_batch`), so it also accepts a
CloudEvents-schema event, or a JSON *array* of events -- the content of an Event Grid dead-letter blob can
be re-queued as is to replay it.

**Encoding.** The Functions queue extension (v5, extension bundle 4.x) decodes messages from base64 by
default (``extensions.queues.messageEncoding``, set explicitly in ``host.json``), while azure-storage-queue
sends text as is unless told otherwise: the sink encodes with ``TextBase64EncodePolicy``.

**Sending** (``polythumb backfill SRC --target azure``). Storage Queues have no batch send, so each item is
one ``Put Message``; a batch of the driver is sent on ``--workers`` threads. The queue is named by
``--sink-option queue=NAME``, else ``THUMBS_BACKFILL_QUEUE``, else ``polythumb-backfill`` (the name the
function listens on), on the account of ``--sink-option connection=NAME``, else
``THUMBS_STORAGE_CONNECTION``, else ``AzureWebJobsStorage`` -- resolved as the Functions host resolves a
connection: a connection string in ``<NAME>``, or identity-based ``<NAME>__queueServiceUri`` /
``<NAME>__accountName`` (+ ``__credential``, ``__clientId``). ``--sink-option queue_url=https://...`` names
the queue directly (with a SAS in its query, or else with ``DefaultAzureCredential``). Messages never
expire (``time_to_live=-1``): a long backfill must not lose queued work after the default seven days.

**Failures.** 408/429/5xx and connection errors are retried by the driver; 400/413 (a message the service
refuses) go to the dead-letter file; a missing queue (404) or refused credentials (401/403) stop the run,
the checkpoint keeping what is done. On the function side a transient error is raised, so the host makes
the message visible again after ``visibilityTimeout`` and moves it to ``<queue>-poison`` after
``maxDequeueCount`` attempts (``host.json``); permanent and malformed ones are logged and acknowledged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.errors import ConfigError, PermissionDenied
from core.events import ObjectEvent
from core.once import once
from core.ops.backfill.dispatch import ItemOutcome, SendResult, SinkRequest, send_each
from providers.azure import MISSING_SDK_HINT
from providers.azure.connection import credential, resolve_connection
from providers.azure.events import BLOB_CREATED, SUBJECT_PREFIX
from providers.azure.settings import STORAGE_CONNECTION, backfill_queue_name, checked_queue_name, load_azure_settings
from providers.azure.storage import AzureBlobStorage, BlobStorageOpener

#: The ``--sink-option`` keys this sink understands.
SINK_OPTIONS = ("queue", "connection", "queue_url")

#: ``data.api`` of a backfill message: not an Event Grid API, so the parser processes it (see CREATED_APIS).
BACKFILL_API = "PolythumbBackfill"

#: Items per send of the driver, per worker thread (each item is one request).
ITEMS_PER_WORKER = 4

# Queue names: 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_STOPPING_STATUS = frozenset({401, 403, 404})


# -- the message -----------------------------------------------------------------------


def queue_message(event: ObjectEvent) -> str:
    """The message text for one work item: the Event Grid BlobCreated event of ``event``'s blob."""
    data: dict[str, Any] = {"api": BACKFILL_API, "blobType": "BlockBlob"}
    if event.etag:
        data["eTag"] = f'"{event.etag}"'  # quoted, as Event Grid sends it
    if event.size is not None:
        data["contentLength"] = event.size
    if event.content_type:
        data["contentType"] = event.content_type
    document = {
        "id": event.event_id,
        "subject": f"{SUBJECT_PREFIX}{event.bucket}/blobs/{event.key}",  # the name as stored, never encoded
        "eventType": BLOB_CREATED,
        "eventTime": event.event_time,
        "data": data,
        "dataVersion": "",
        "metadataVersion": "1",
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


# -- opening the images account for planning -----------------------------------------------

@once
def _images_opener() -> BlobStorageOpener:
    """The opener of the images connection, resolved on the first open (one client for SRC and DEST)."""
    return BlobStorageOpener(resolve_connection(load_azure_settings(os.environ).connection_name, environ=os.environ))


def open_bucket(name: str) -> AzureBlobStorage:
    """Open container ``name`` of the images connection, resolved as the function resolves it.

    ``THUMBS_STORAGE_CONNECTION`` names the connection (default ``AzureWebJobsStorage``): a connection
    string, or ``<name>__blobServiceUri`` / ``<name>__accountName`` with an Entra ID identity.
    """
    return _images_opener()(name)


# -- the CLI side: the sink ------------------------------------------------------------------


class StorageQueueSink:
    """Puts work items on a Storage Queue, one request per item, ``workers`` at a time.

    Args:
        queue: An azure-storage-queue ``QueueClient`` that base64-encodes text (see :func:`queue_client`).
        workers: Concurrent ``Put Message`` requests.
    """

    def __init__(self, queue: Any, *, workers: int) -> None:
        self._queue = queue
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="polythumb-queue")

    @property
    def max_batch_size(self) -> int:
        return self._workers * ITEMS_PER_WORKER

    def send(self, batch: Sequence[ObjectEvent]) -> SendResult:
        """Put every event of ``batch`` on the queue; report each."""
        return send_each(self._pool, self._put, [queue_message(event) for event in batch])

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._queue.close()

    def _put(self, text: str) -> ItemOutcome:
        """None when sent; (reason, retryable) when it failed; an exception that must stop the run."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            self._queue.send_message(text, time_to_live=-1)
        except ClientAuthenticationError as exc:
            return PermissionDenied(f"{self._where()}: the credential was refused ({type(exc).__name__})")
        except (ServiceRequestError, ServiceResponseError) as exc:
            return (f"{type(exc).__name__}: queue service unreachable or too slow", True)
        except HttpResponseError as exc:
            status = int(exc.status_code or 0)
            code = str(getattr(exc, "error_code", None) or status)
            if status in _TRANSIENT_STATUS:
                return (f"{code}: throttled or unavailable", True)
            if status == 404:
                return ConfigError(f"{self._where()} does not exist ({code}); check the queue name and account")
            if status in _STOPPING_STATUS:
                return PermissionDenied(
                    f"{self._where()}: sending was refused ({code}); the sender needs the "
                    "Storage Queue Data Message Sender role on the queue"
                )
            return (f"{code}: refused by the queue service", False)
        return None

    def _where(self) -> str:
        return f"queue {self._queue.queue_name}"  # never the URL: it may carry a SAS


def queue_client(*, connection_name: str, queue_name: str, environ: Mapping[str, str], **options: Any) -> Any:
    """A base64-encoding ``QueueClient`` for ``queue_name`` on connection ``connection_name``.

    Resolved as the Functions host resolves a queue connection: ``<name>`` (or ``AzureWebJobs<name>``)
    holding a connection string, else ``<name>__queueServiceUri`` or ``<name>__accountName`` with an
    Entra ID credential (``<name>__credential=managedidentity``, ``<name>__clientId``).

    Raises:
        ConfigError: neither is set, or a setting is malformed (naming the settings, never their values).
    """
    connection = resolve_connection(
        connection_name,
        environ=environ,
        service="queue",
        otherwise="pass --sink-option queue_url=https://<account>.queue.core.windows.net/<queue>",
    )
    QueueClient, encode = _queue_sdk()
    kwargs = {"message_encode_policy": encode(), **_client_options(), **options}
    if connection.connection_string is not None:
        return QueueClient.from_connection_string(connection.connection_string, queue_name, **kwargs)
    return QueueClient(connection.account_url, queue_name, credential=credential(connection), **kwargs)


def make_sink(request: SinkRequest) -> StorageQueueSink:
    """The sink for ``polythumb backfill --target azure`` (see :mod:`core.ops.backfill.dispatch`).

    Raises:
        ConfigError: an unknown sink option, an invalid queue name, or no way to reach the queue.
    """
    options = request.checked_options(SINK_OPTIONS)
    workers = int(request.workers or 16)
    queue_url = (options.get("queue_url") or "").strip()
    if queue_url:
        return StorageQueueSink(_client_from_url(queue_url), workers=workers)
    connection = (options.get("connection") or "").strip() or STORAGE_CONNECTION.read(os.environ)
    name = options.get("queue")
    queue_name = checked_queue_name(name.strip(), "--sink-option queue") if name else backfill_queue_name(os.environ)
    client = queue_client(connection_name=connection, queue_name=queue_name, environ=os.environ)
    return StorageQueueSink(client, workers=workers)


def _client_from_url(queue_url: str) -> Any:
    if not queue_url.startswith("https://") and not queue_url.startswith("http://127.0.0.1"):
        raise ConfigError("--sink-option queue_url must be an https:// queue URL (tokens need TLS)")
    QueueClient, encode = _queue_sdk()
    # A SAS in the query authorises by itself; otherwise authenticate with the developer's/host's identity.
    has_sas = "sig=" in queue_url.partition("?")[2]
    return QueueClient.from_queue_url(queue_url, credential=None if has_sas else credential(),
                                      message_encode_policy=encode(), **_client_options())  # fmt: skip


def _client_options() -> dict[str, Any]:
    from azure.storage.queue import ExponentialRetry

    # One quick SDK retry smooths a blip; the driver's backoff (with a dead-letter file) handles the rest.
    retry = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=1, random_jitter_range=1)
    return {"retry_policy": retry, "connection_timeout": 10, "read_timeout": 30}


def _queue_sdk() -> tuple[Any, Callable[[], Any]]:
    try:
        from azure.storage.queue import QueueClient, TextBase64EncodePolicy
    except ImportError as exc:  # pragma: no cover - covered by the core-only isolation session
        raise ImportError(MISSING_SDK_HINT) from exc
    return QueueClient, TextBase64EncodePolicy


