"""The Azure Functions entrypoint (Python v2 programming model).

Two functions, one core path (:mod:`providers.azure.handlers`):

* ``on_event_grid`` -- Event Grid trigger for ``Microsoft.Storage.BlobCreated`` and
  ``BlobDeleted``, Event Grid or CloudEvents 1.0 schema (the route the Terraform deploys);
* ``on_blob`` -- blob trigger with ``source=EventGrid`` on ``%THUMBS_SOURCE_CONTAINER%/{name}``,
  for teams who prefer it. It sees creations only; deletions need the Event Grid route.
* ``on_backfill_queue`` -- queue trigger on ``THUMBS_BACKFILL_QUEUE`` (default ``polythumb-backfill``)
  of the images connection: the work items ``polythumb backfill --target azure`` sends, each an
  Event Grid BlobCreated event (see :mod:`providers.azure.backfill`).
* ``serve_http`` -- HTTP trigger on ``/api/thumbs/<output key>``, anonymous: renders on first request
  (:mod:`providers.azure.serve`); the Terraform disables it unless ``serve = true``.
* ``brake_on_runaway`` -- HTTP trigger (POST ``/api/polythumb/brake``, function key) that the runaway alerts'
  action group calls (:mod:`providers.azure.brake_function`); registered only where ``BRAKE_ALERTS`` is set
  (``brake_on_runaway = true`` in deploy/brake.tf), and its code imported on its first request only.

Everything is built once per process at import (cold start): settings are validated here, so a
missing ``THUMBS_DEST_BUCKET`` or storage connection fails the start loudly, and the one Blob
client is reused by every warm invocation. The packaged app's root ``function_app.py`` re-exports
``app`` from this module.
"""

from __future__ import annotations

import json
import os

import azure.functions as func

from core.runtime import FunctionRuntime
from providers.azure.connection import resolve_connection
from providers.azure.events import require_cloud_event
from providers.azure.handlers import handle_blob, handle_event_grid, handle_queue_message
from providers.azure.serve import ROUTE, SERVE_ROUTE, http_response, request_from_http
from providers.azure.settings import (
    BRAKE_ALERTS,
    SOURCE_CONTAINER,
    backfill_queue_name,
    brake_settings,
    function_timeout,
    load_azure_settings,
)
from providers.azure.storage import BlobStorageOpener

# Fail the start, not each event, when the library cannot decode CloudEvents-schema deliveries.
require_cloud_event(func)
settings = load_azure_settings(os.environ)
runtime = FunctionRuntime(
    BlobStorageOpener(resolve_connection(settings.connection_name, environ=os.environ)),
    provider="azure",  # the descriptor's function_settings are accepted and validated with the shared ones
    invocation_timeout=function_timeout(os.environ),  # host.json's functionTimeout bounds event publishing
)
if runtime.config.serve_source_bucket:
    # serve = true (serve.tf sets THUMBS_SERVE_SOURCE_BUCKET): the serve settings are checked at cold start too.
    # Imported here and on the first request only: the event functions share this cold start.
    from core.serve import prepare

    prepare(runtime)
# Read at indexing, not through a %...% binding expression: the host could not resolve one when the
# setting is absent, and the default must work without it.
backfill_queue = backfill_queue_name(os.environ)

app = func.FunctionApp()


@app.function_name("on_event_grid")
@app.event_grid_trigger(arg_name="event")
def on_event_grid(event: func.EventGridEvent, context: func.Context) -> None:
    """Thumbnails for a created blob, cleanup for a deleted one; other events are acknowledged.

    The worker passes a ``func.EventGridEvent`` or, for a CloudEvents-schema subscription, a
    ``func.CloudEvent``; both are read by :func:`providers.azure.events.envelope_from_host`. A parameter named
    ``context`` (annotated ``func.Context``) is no binding: the worker passes the invocation's context, whose
    trace the delivery continues (:mod:`providers.azure.handlers`).
    """
    handle_event_grid(runtime, event, source_container=settings.source_container, context=context)


@app.function_name("on_blob")
@app.blob_trigger(
    arg_name="blob",
    path=f"%{SOURCE_CONTAINER.name}%/{{name}}",
    connection=settings.connection_name,
    source=func.BlobSource.EVENT_GRID,
)
def on_blob(blob: func.InputStream, context: func.Context) -> None:
    """Thumbnails for a blob created or replaced in the source container."""
    handle_blob(runtime, blob, source_container=settings.source_container, context=context)


@app.function_name("on_backfill_queue")
@app.queue_trigger(arg_name="message", queue_name=backfill_queue, connection=settings.connection_name)
def on_backfill_queue(message: func.QueueMessage, context: func.Context) -> None:
    """Thumbnails for one backfill work item (or a re-queued Event Grid event); poison queue after retries."""
    handle_queue_message(runtime, message, source_container=settings.source_container, context=context)


# Every method reaches the function (the core answers 405 to all but GET and HEAD); anonymous: an <img src> carries
# no key, and a function key in every page would be no secret (README, "Render on first request").
@app.function_name("serve_http")
@app.route(route=SERVE_ROUTE, trigger_arg_name="request", auth_level=func.AuthLevel.ANONYMOUS)
def serve_http(request: func.HttpRequest) -> func.HttpResponse:
    """Answer one request for an output key: redirect to it, rendering it first if missing."""
    from core.serve import handle_request  # loaded once, on the first request (see the cold start above)

    response: func.HttpResponse = http_response(handle_request(runtime, request_from_http(request), route=ROUTE), func)
    return response


if os.environ.get(BRAKE_ALERTS):
    # The automatic brake (deploy/brake.tf, brake_on_runaway): its settings are refused at start like the others,
    # its code (the brake, Resource Manager's client, azure-identity) loaded on its first alert only.
    brake_settings(os.environ)

    @app.function_name("brake_on_runaway")
    @app.route(route="polythumb/brake", methods=["POST"], trigger_arg_name="request",
               auth_level=func.AuthLevel.FUNCTION)  # fmt: skip
    def brake_on_runaway(request: func.HttpRequest) -> func.HttpResponse:
        """Put the brake on when a runaway alert fires (common alert schema); never release."""
        from providers.azure.brake_function import default_handler

        answer = default_handler()(request.get_body())
        return func.HttpResponse(json.dumps(answer.body), status_code=answer.status, mimetype="application/json")
