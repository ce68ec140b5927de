"""The serve function's signing keys, read once per container from AWS Secrets Manager.

Lambda has no way to put a secret into a function's environment by reference (Google Cloud and Azure both do),
and a key written into the environment itself is readable by anyone who may read the function's configuration.
So the serve function's environment names the secret (``THUMBS_SERVE_KEYS_SECRET``, its ARN) and its cold start
reads it, once, into ``THUMBS_SERVE_KEYS`` of the settings the runtime validates. The value is never logged, and an
error never quotes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError
from providers.aws import SERVE_KEYS_SECRET, import_boto3

#: Where the keys go once read (the core's setting).
KEYS = "THUMBS_SERVE_KEYS"


def with_signing_keys(environ: Mapping[str, str], *, client: Any = None) -> dict[str, str]:
    """``environ`` with ``THUMBS_SERVE_KEYS`` read from the secret ``THUMBS_SERVE_KEYS_SECRET`` names, if any.

    Args:
        environ: The function's settings.
        client: A boto3 Secrets Manager client; by default a new one (honouring ``AWS_ENDPOINT_URL``).

    Raises:
        ConfigError: the secret cannot be read (missing, not granted, binary, empty), naming the setting.
    """
    settings = dict(environ)
    secret = SERVE_KEYS_SECRET.read(settings)
    if not secret or (settings.get(KEYS) or "").strip():
        return settings
    from botocore.exceptions import BotoCoreError, ClientError

    reader = client or import_boto3().session.Session().client("secretsmanager")
    try:
        value = reader.get_secret_value(SecretId=secret).get("SecretString")
    except ClientError as exc:  # the code says why (ResourceNotFoundException, AccessDeniedException...)
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ConfigError(
            f"{SERVE_KEYS_SECRET.name}={secret!r} cannot be read ({code}): the serve function's role needs "
            "secretsmanager:GetSecretValue on it (and kms:Decrypt on its key, if it is not the AWS-managed one)"
        ) from None
    except BotoCoreError as exc:
        raise ConfigError(f"{SERVE_KEYS_SECRET.name}={secret!r} cannot be read: {type(exc).__name__}") from None
    if not value or not value.strip():
        raise ConfigError(
            f"{SERVE_KEYS_SECRET.name}={secret!r} holds no text: its value must be the signing keys, kid:secret,..."
        )
    settings[KEYS] = value.strip()
    return settings
