"""The Lambda function URL entrypoint of the serve path: handler string ``providers.aws.serve.handler``.

A second function, from the same zip, behind a function URL (payload format 2.0) and, in the Terraform,
CloudFront: the destination bucket first, this function on a 403/404 from it (origin failover). Each request
is translated into a :class:`core.serve.ServeRequest` and answered by :func:`core.serve.handle_request`; this
module adds nothing of its own but the translation:

* ``rawPath`` is the path as on the wire, still percent-encoded (a function URL keeps the encoding, unlike an API
  Gateway HTTP API); there is no mount prefix, the whole path is the output key's. ``rawQueryString`` likewise.
* Header names arrive in lower case, repeated headers joined with commas; cookies come apart and are not read.
* The answer is the payload 2.0 response: status, headers, and a body base64-encoded (binary-safe) when there is
  one. Redirects and refusals have none, so the 6 MB limit of a buffered response never binds a redirect.

Configuration is read once per container, like the event handler's (:mod:`providers.aws.handler`): in Lambda the
runtime is built at import, so a bad ``THUMBS_*`` setting fails the cold start. The signing keys of ad-hoc URLs come
from Secrets Manager (``THUMBS_SERVE_KEYS_SECRET``, :mod:`providers.aws.secrets`), read then too.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any

from core.errors import MalformedEvent
from core.once import Once, once
from core.runtime import FunctionRuntime
from core.serve import ServeRequest, ServeResponse, handle_request, prepare
from providers.aws.secrets import with_signing_keys
from providers.aws.storage import S3Storage, shared_client

#: The route named in each request's log line.
ROUTE = "function_url"


def request_from_event(event: Any) -> ServeRequest:
    """The :class:`ServeRequest` of a function URL event (payload format 2.0).

    Raises:
        MalformedEvent: ``event`` is not a payload 2.0 HTTP request (no method or no path).
    """
    if not isinstance(event, Mapping):
        raise MalformedEvent("a function URL event is a JSON object")
    http = (event.get("requestContext") or {}).get("http") or {}
    method, raw_path = http.get("method"), event.get("rawPath")
    if not isinstance(method, str) or not isinstance(raw_path, str):
        raise MalformedEvent(
            "not a function URL request (payload format 2.0): requestContext.http.method or rawPath missing"
        )
    headers = event.get("headers") or {}
    return ServeRequest(
        method=method,
        raw_path=raw_path,
        query=str(event.get("rawQueryString") or ""),
        headers={str(name).lower(): str(value) for name, value in headers.items()},
    )


def response_for(response: ServeResponse) -> dict[str, Any]:
    """The payload 2.0 answer to a function URL for ``response``."""
    answer: dict[str, Any] = {"statusCode": response.status, "headers": dict(response.headers)}
    if response.body:
        answer["body"] = base64.b64encode(response.body).decode("ascii")
        answer["isBase64Encoded"] = True
    else:
        answer["body"] = ""
        answer["isBase64Encoded"] = False
    return answer


class FunctionUrlHandler:
    """One container's serve handler: a function URL event in, :func:`core.serve.handle_request`, its answer out."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self.runtime = runtime

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Answer one function URL request (never raises for a bad request: the core answers 4xx)."""
        return response_for(handle_request(self.runtime, request_from_event(event), route=ROUTE))


def build_handler(
    environ: Mapping[str, str] | None = None, *, s3_client: Any = None, secrets_client: Any = None
) -> FunctionUrlHandler:
    """Build a serve handler from ``environ`` (``os.environ`` by default).

    Args:
        environ: The THUMBS_* settings to validate and use (the event function's, plus the serve settings).
        s3_client: A boto3 S3 client; by default the container's shared one.
        secrets_client: A boto3 Secrets Manager client for THUMBS_SERVE_KEYS_SECRET; by default a new one.

    Raises:
        ConfigError: a setting is missing or invalid (THUMBS_DEST_BUCKET and THUMBS_SERVE_SOURCE_BUCKET are
            required, every key template must read back to its source, THUMBS_SERVE_KEYS_SECRET must be readable).
    """

    def open_bucket(bucket: str) -> S3Storage:
        return S3Storage(bucket, client=s3_client)

    # The signing keys, from the secret THUMBS_SERVE_KEYS_SECRET names (once per container), else as given.
    settings = with_signing_keys(os.environ if environ is None else environ, client=secrets_client)
    runtime = FunctionRuntime(open_bucket, environ=settings, provider="aws")
    prepare(runtime)  # the serve settings, checked now: a wrong one fails the cold start, not each request
    return FunctionUrlHandler(runtime)


#: The container's serve handler, built from ``os.environ`` on first use.
default_handler: Once[FunctionUrlHandler] = once(build_handler)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda handler of the serve function (``providers.aws.serve.handler``)."""
    return default_handler()(event, context)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    # Cold start in Lambda: a wrong setting fails the init, and the S3 client is made before the first request.
    default_handler()
    shared_client()
