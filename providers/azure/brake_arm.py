"""The brake's management plane through Resource Manager's REST API, as the function app's own identity.

What the automatic brake (:mod:`providers.azure.brake_function`) uses inside the app, where there is no
``az``: the same requests ``az rest`` / ``az functionapp`` make for a person (:mod:`providers.azure.brake`),
with a bearer token of the app's managed identity. A refusal (4xx) is permanent and says which request and
what Resource Manager answered (its error code and message, never a body sent, a token or a key); throttling,
a server error or no answer is transient. Requests go through :func:`core.completion.http.exchange`: a redirect
is never followed (it would carry the token to whatever host it names), each request has one overall deadline,
and at most :data:`MAX_ANSWER` bytes of an answer are read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from core.completion.http import exchange
from core.errors import PermanentError, TransientError
from providers.azure.brake_core import API_VERSION, ARM
from providers.azure.settings import checked_management_endpoint

#: The App Service management API version (sites: read, stop, start, host keys).
WEB_API_VERSION = "2023-12-01"
#: Seconds one request may take, all of it: the brake answers its alert well inside the action group's wait.
TIMEOUT = 30
#: Most bytes of an answer read: a site's resource, the largest answer used, is tens of kilobytes.
MAX_ANSWER = 1 << 20


class ManagementRefused(PermanentError):
    """Resource Manager refused a request of the brake (a role missing, a resource gone, a body refused)."""

    kind = "management_refused"


class ManagementUnavailable(TransientError):
    """Resource Manager throttled, failed or did not answer a request of the brake: trying again may work."""

    kind = "management_unavailable"


class ArmRest:
    """The :class:`~providers.azure.brake_core.ManagementPlane` over HTTPS.

    Args:
        token: Returns a bearer token for ``endpoint`` (a fresh or cached one; never logged).
        endpoint: Resource Manager's endpoint (another for a sovereign cloud).
        timeout: Seconds per request.
    """

    def __init__(self, *, token: Callable[[], str], endpoint: str = ARM, timeout: float = TIMEOUT) -> None:
        self._token = token
        self._endpoint = checked_management_endpoint(endpoint)
        self._timeout = timeout

    # -- the plane -----------------------------------------------------------------------------------------

    def get(self, resource_id: str) -> dict[str, Any]:
        return self._call("GET", resource_id, API_VERSION)

    def put(self, resource_id: str, properties: Mapping[str, Any]) -> None:
        self._call("PUT", resource_id, API_VERSION, body={"properties": dict(properties)})

    def full_url(self, resource_id: str) -> str:
        return str(self._call("POST", f"{resource_id}/getFullUrl", API_VERSION)["endpointUrl"])

    def app_state(self, app_id: str) -> str:
        return str((self._call("GET", app_id, WEB_API_VERSION).get("properties") or {}).get("state") or "")

    def set_app_state(self, app_id: str, *, running: bool) -> None:
        self._call("POST", f"{app_id}/{'start' if running else 'stop'}", WEB_API_VERSION)

    def blobs_extension_key(self, app_id: str) -> str:
        keys = self._call("POST", f"{app_id}/host/default/listkeys", WEB_API_VERSION)
        key = (keys.get("systemKeys") or {}).get("blobs_extension")
        if not key:
            name = app_id.rstrip("/").rsplit("/", 1)[-1]
            raise ManagementRefused(f"{name} has no blobs_extension key to authorise the webhook with")
        return str(key)

    # -- HTTP ----------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, api_version: str, *, body: Any = None) -> dict[str, Any]:
        """One request; its JSON answer (an empty answer: ``{}``)."""
        data = json.dumps(body).encode("utf-8") if body is not None else b""
        headers = {"Authorization": f"Bearer {self._token()}", "Content-Type": "application/json"}
        what = f"{method} {_short(path)}"
        try:
            answer = exchange(method, f"{self._endpoint}{path}?api-version={api_version}", data, headers=headers,
                              deadline=time.monotonic() + self._timeout, max_answer=MAX_ANSWER, error_body=True)
        except (TimeoutError, OSError) as exc:
            raise ManagementUnavailable(f"{what}: no answer from Resource Manager ({type(exc).__name__})") from None
        if answer.status == 429 or answer.status >= 500:
            raise ManagementUnavailable(f"{what}: Resource Manager answered {answer.status} {_error_of(answer.body)}")
        if answer.status >= 300:
            redirect = " (a redirect, not followed)" if answer.status < 400 else ""
            detail = _error_of(answer.body)
            raise ManagementRefused(f"{what}: Resource Manager answered {answer.status}{redirect} {detail}")
        text = answer.body.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text.strip() else {}
        except ValueError:
            raise ManagementRefused(f"{what}: the answer is no JSON, or over {MAX_ANSWER} bytes") from None
        return parsed if isinstance(parsed, dict) else {}


def _short(path: str) -> str:
    """A resource path as the logs name it: its last type and name, and the action (no subscription id)."""
    return "/".join(path.rstrip("/").split("/")[-3:])


def _error_of(body: bytes) -> str:
    """Resource Manager's ``error.code: error.message`` (the start of it), or nothing."""
    try:
        error = json.loads(body.decode("utf-8", "replace")).get("error") or {}
    except (ValueError, AttributeError):
        return ""
    return f"({error.get('code', '?')}: {str(error.get('message', ''))[:300]})"
