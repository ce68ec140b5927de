"""Cloud Functions entrypoints of polythumb.

Three targets, one runtime:

* ``handle_cloud_event`` -- **2nd gen** (Cloud Run functions, Eventarc), signature type
  ``cloudevent``. Deploy one function per trigger type with this entry point:
  ``google.cloud.storage.object.v1.finalized`` renders, ``...v1.deleted`` and
  ``...v1.archived`` (a delete on a versioned bucket) remove the thumbnails;
  ``metadataUpdated`` is acknowledged and skipped.
  Binary (``ce-*`` headers) and structured CloudEvents both arrive here:
  functions-framework decodes the HTTP request.
* ``handle_legacy_event`` -- **1st gen** background functions, signature type ``event``
  (``gcloud functions deploy --no-gen2 --entry-point handle_legacy_event
  --trigger-event google.storage.object.finalize`` or ``.delete``; the old
  ``providers/cloud.storage/eventTypes/object.change`` works too).
* ``serve_http`` -- **2nd gen** HTTP function, signature type ``http``: renders on first request
  (``GET <function URL>/<output key>``), see :mod:`providers.gcp.serve`. Its own function and service
  account in the Terraform (serve.tf), the same archive and settings.

Served locally with::

    functions-framework --source providers/gcp/main.py --target handle_cloud_event \\
        --signature-type cloudevent --port 8080

The runtime (``THUMBS_*`` settings, logger, thumbnailer) is built once, at
import: a bad setting fails the cold start loudly, and warm invocations reuse
the GCS client.

What is retried (the delivery contract is the HTTP status functions-framework answers: 2xx acknowledges,
an exception is a 500 that makes Eventarc redeliver while the trigger's retry policy is
``RETRY_POLICY_RETRY``): Eventarc delivers through a Pub/Sub push subscription, which treats *every*
non-2xx answer, 400 included, as a failure to redeliver for the whole retry window. So a malformed event
(a retry can never fix it) is logged once and acknowledged, like an acknowledged type (archived,
metadataUpdated) and a permanent image error; only a transient error (or a bug) is raised, so
functions-framework answers 500 and Eventarc retries. A request that is not a CloudEvent at all never
reaches this code: functions-framework itself answers it with 400. See :mod:`core.delivery`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from core.delivery import deliver
from core.runtime import FunctionRuntime
from core.tracing import parse_traceparent
from providers.gcp import INSTALL_HINT
from providers.gcp.events import parse_background_event, parse_cloud_event
from providers.gcp.serve import ROUTE, flask_answer, request_from_wsgi
from providers.gcp.storage import open_bucket

try:
    import functions_framework
except ImportError as exc:  # pragma: no cover - exercised only where the SDK is absent
    raise ImportError(f"the GCP entrypoints need functions-framework: {INSTALL_HINT}") from exc

def function_timeout(environ: Mapping[str, str]) -> float | None:
    """``FUNCTION_TIMEOUT_SEC`` in seconds, where set (None: unknown; each publish then gets its own budget)."""
    try:
        seconds = float(environ.get("FUNCTION_TIMEOUT_SEC", ""))
    except ValueError:
        return None
    return seconds if seconds > 0 else None


#: The container's runtime, configured at cold start from the THUMBS_* environment. The invocation's timeout
#: (FUNCTION_TIMEOUT_SEC, which the deploy sets as 1st-gen runtimes did) bounds event publishing.
RUNTIME = FunctionRuntime(open_bucket, provider="gcp", invocation_timeout=function_timeout(os.environ))


@functions_framework.cloud_event
def handle_cloud_event(cloud_event: Any) -> None:
    """Handle one Cloud Storage CloudEvent (2nd gen / Eventarc).

    Raises:
        core.errors.TransientError: Eventarc should redeliver the event (HTTP 500).
    """
    attributes = cloud_event.get_attributes()
    deliver(
        RUNTIME,
        lambda: parse_cloud_event(attributes, cloud_event.get_data()),
        trace=parse_traceparent(attributes.get("traceparent")),  # Eventarc's distributed-tracing extension
        route="cloudevent",
        event_id=attributes.get("id"),
        event_type=attributes.get("type"),
    ).raise_for_retry()


def handle_legacy_event(data: Any, context: Any) -> None:
    """Handle one 1st-gen background event (``data``, ``context``) from Cloud Storage.

    Raises:
        core.errors.TransientError: Cloud Functions should retry the event (when retries are enabled).
    """
    fields = _context_fields(context)
    deliver(
        RUNTIME,
        lambda: parse_background_event(data, **fields),
        route="background",
        event_id=fields["event_id"],
        event_type=fields["event_type"],
    ).raise_for_retry()


@functions_framework.http
def serve_http(request: Any) -> Any:
    """Answer one request for an output key (2nd gen HTTP function): redirect to it, rendering it first if missing.

    Never raises for a bad request: the core answers 4xx, and a transient storage error 503 with Retry-After.
    """
    from core.serve import handle_request  # not at import: the event functions load this module too

    served = handle_request(RUNTIME, request_from_wsgi(request.method, request.environ, request.headers), route=ROUTE)
    return flask_answer(served)


def _give_every_path_to_the_core() -> None:
    """Let every path reach :func:`serve_http` in the app functions-framework serves it from.

    functions-framework answers ``/robots.txt`` and ``/favicon.ico`` itself (a 404 with no Cache-Control, never
    the core's). Its app is being built while this module is imported (inside the app's context), and its
    ``errorhandler`` is that app's: a 404 the framework raises itself is answered by the core instead. Outside
    functions-framework (a test importing this module) there is no app to change.
    """
    import flask  # functions-framework's web framework

    if flask.has_app_context():
        functions_framework.errorhandler(404)(lambda _error: serve_http(flask.request))


if RUNTIME.config.serve_source_bucket:
    # The serve function's deployment (serve.tf sets THUMBS_SERVE_SOURCE_BUCKET): its settings are checked at
    # cold start too, so a key template no request can be read back through fails the start, not each request.
    from core.serve import prepare

    prepare(RUNTIME)
    _give_every_path_to_the_core()


def _context_fields(context: Any) -> dict[str, Any]:
    """The fields of a functions-framework ``Context`` (or of a plain ``context`` mapping)."""
    if isinstance(context, dict):
        return {
            "event_type": context.get("eventType"),
            "event_id": context.get("eventId"),
            "timestamp": context.get("timestamp"),
            "resource": context.get("resource"),
        }
    return {
        "event_type": getattr(context, "event_type", None),
        "event_id": getattr(context, "event_id", None),
        "timestamp": getattr(context, "timestamp", None),
        "resource": getattr(context, "resource", None),
    }
