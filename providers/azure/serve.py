"""The HTTP trigger of the serve path, as a translation: an ``azure.functions.HttpRequest`` in, an HttpResponse out.

``function_app.serve_http`` (route ``thumbs/{*path}``, anonymous: see the README's serve section) hands each
request here and :func:`core.serve.handle_request` answers it. Translation only:

* the path is the request URL's, still percent-encoded, after the mount: the host's route prefix (``api``, host.json
  sets no other) and the trigger's route (``thumbs``). The route parameter ``path`` is not used: the host decodes
  it, and decoding twice would turn a key holding ``%25`` into another key.
* header names go to lower case; the answer's status, headers and body are the core's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the event functions import this module too; core.serve loads on the first request
    from core.serve import ServeRequest, ServeResponse

#: The route named in each request's log line.
ROUTE = "http_trigger"
#: The trigger's route template, under the host's route prefix.
SERVE_ROUTE = "thumbs/{*path}"
#: The Functions host's route prefix of HTTP triggers (``extensions.http.routePrefix``; host.json keeps the default).
ROUTE_PREFIX = "api"
#: What precedes the output key in a request's path.
MOUNT = f"/{ROUTE_PREFIX}/{SERVE_ROUTE.split('/', 1)[0]}"


def request_from_http(request: Any) -> ServeRequest:
    """The :class:`ServeRequest` of one ``azure.functions.HttpRequest``."""
    from core.serve import ServeRequest

    parts = urlsplit(request.url)
    path = parts.path
    # Case-insensitively, as the host routes: "/API/Thumbs/x" reaches this trigger too.
    mounted = path.lower() == MOUNT.lower() or path.lower().startswith(f"{MOUNT.lower()}/")
    rest = path[len(MOUNT) :] if mounted else path
    return ServeRequest(
        method=request.method,
        raw_path=rest if rest.startswith("/") else f"/{rest}",
        query=parts.query,
        headers={str(name).lower(): str(value) for name, value in request.headers.items()},
    )


def http_response(response: ServeResponse, func: Any) -> Any:
    """The ``func.HttpResponse`` (``func``: the ``azure.functions`` module) answering with ``response``."""
    return func.HttpResponse(body=response.body, status_code=response.status, headers=dict(response.headers))
