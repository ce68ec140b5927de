"""The HTTP Cloud Function of the serve path, as a translation: a Flask request in, a Flask-shaped answer out.

``providers.gcp.main.serve_http`` (functions-framework's ``http`` signature) hands each request here and
:func:`core.serve.handle_request` answers it. Translation only:

* the path is taken as sent (``RAW_URI``, which gunicorn -- Cloud Run functions' server -- and werkzeug's development
  server both set), still percent-encoded: werkzeug's own ``PATH_INFO`` is already decoded, and decoding twice
  would turn a key holding ``%2F`` into another key. A server without it gets ``PATH_INFO`` encoded again, which
  is the same key for every path but one holding an encoded ``/``.
* there is no mount prefix on the function's own (run.app) URL: the whole path is the output key's.
* header names go to lower case; the answer's status, headers (``Content-Length`` included) and body are the
  core's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:  # the event functions import this module too; core.serve loads on the first request
    from core.serve import ServeRequest, ServeResponse

#: The route named in each request's log line.
ROUTE = "cloud_function_http"
#: What ``quote`` leaves alone when it encodes a decoded path again: the characters a path may carry as they are.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def request_from_wsgi(method: str, environ: Mapping[str, Any], headers: Any) -> ServeRequest:
    """The :class:`ServeRequest` of one WSGI request (``flask.Request.method``, ``.environ``, ``.headers``)."""
    from core.serve import ServeRequest

    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        if not raw.startswith("/"):  # an absolute-form request target (``http://host/path``): its path
            parts = urlsplit(raw)
            raw = parts.path + (f"?{parts.query}" if parts.query else "")
        path, _, query = raw.partition("?")
    else:
        # PEP 3333: PATH_INFO holds the decoded bytes as latin-1 characters.
        decoded = str(environ.get("PATH_INFO") or "/").encode("latin-1")
        path, query = quote(decoded, safe=_PATH_SAFE), str(environ.get("QUERY_STRING") or "")
    return ServeRequest(
        method=method,
        raw_path=path or "/",
        query=query,
        headers={str(name).lower(): str(value) for name, value in headers.items()},
    )


def flask_answer(response: ServeResponse) -> Any:
    """The ``flask.Response`` for ``response``, its headers the core's own.

    Set after the body, so werkzeug's own ``Content-Length`` (the body's: 0 for a HEAD) gives way to the core's
    (the GET's length, which a HEAD must announce).
    """
    import flask  # functions-framework's web framework, there wherever this module runs

    answer = flask.Response(response.body, status=response.status)
    for name, value in response.headers.items():
        answer.headers[name] = value
    return answer
