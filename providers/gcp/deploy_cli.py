"""What ``polythumb deploy gcp`` and ``polythumb verify gcp`` need to know about this provider's stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.ops.deploy import Target, standard_apply
from core.ops.verify import Check, settings_from
from core.ops.verify_serve import ServeFetch, fetch_from
from providers.gcp.packaging import DEFAULT_OUT


class GcpDeployer:
    """One ``terraform apply``; the functions watch whole buckets, so uploads go to the bucket's top."""

    package_name = DEFAULT_OUT.name
    apply = staticmethod(standard_apply)

    def package_argv(self, output: Path) -> list[str]:
        return ["--out", str(output)]

    def target(self, outputs: Mapping[str, Any]) -> Target:
        return Target(
            source_bucket=outputs["source_bucket"],
            dest_bucket=outputs["thumbnail_bucket"],
            settings=settings_from(outputs.get("thumbs_environment") or {}),
        )  # credentials: Application Default Credentials (`gcloud auth application-default login`)

    def emulator_environment(self, endpoint: str) -> dict[str, str]:
        """google-cloud-storage reads ``STORAGE_EMULATOR_HOST`` and then needs no credentials."""
        return {"STORAGE_EMULATOR_HOST": endpoint}

    def deployment_checks(self, outputs: Mapping[str, Any]) -> list[Check]:
        """None beyond the thumbnails: the functions' settings are the outputs ``verify`` already reads."""
        return []

    def serve_fetch(self, outputs: Mapping[str, Any], *, base_url: str | None = None) -> ServeFetch | None:
        """The serve function's URL (``serve_url``); when it is not public (``serve_invokers`` without allUsers),
        each request carries an ID token of the Application Default Credentials (a service account's: user
        credentials cannot mint one for another audience)."""
        url = base_url or outputs.get("serve_url")
        if not url:
            return None
        if outputs.get("serve_public", True):
            return fetch_from(url)
        return fetch_from(url, sign=id_token_signer(str(outputs.get("serve_url") or url)))

    def prepare_teardown(self, outputs: Mapping[str, Any], *, confirm: Callable[[str], str]) -> Callable[[], None]:
        """Nothing to remove: the originals and thumbnails buckets are not versioned, so ``verify`` leaves them
        as it found them, and Cloud Storage refuses to delete a bucket that holds objects unless it was
        deployed with ``force_destroy = true``. The code and access-log buckets hold only the deployment's own
        files and are emptied by destroy (``force_destroy`` on them).
        """
        return lambda: None


def id_token_signer(audience: str) -> Callable[[str], dict[str, str]]:
    """An ``Authorization: Bearer <ID token>`` header for the Cloud Run service at ``audience``.

    Raises:
        OSError: no ID token can be made with these credentials (said when the step runs).
    """

    def sign(url: str) -> dict[str, str]:
        try:
            import google.auth.transport.requests
            from google.oauth2 import id_token

            fetch: Any = id_token.fetch_id_token  # google-auth has no type information
            token = fetch(google.auth.transport.requests.Request(), audience.rstrip("/"))
        except Exception as exc:  # google-auth raises several kinds; each means: no token here
            raise OSError(
                f"no ID token for {audience} ({type(exc).__name__}): use a service account's credentials "
                "(GOOGLE_APPLICATION_CREDENTIALS) listed in serve_invokers"
            ) from exc
        return {"Authorization": f"Bearer {token}"}

    return sign


DEPLOYER = GcpDeployer()
