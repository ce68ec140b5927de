"""The one error vocabulary of polythumb.

Every adapter translates its SDK's exceptions into these at its edge, and the
pipeline classifies everything it raises into two families:

* :class:`PermanentError` -- retrying cannot help (not an image, truncated, a
  bomb, a malformed event, a bad setting). Reported once, never retried.
* :class:`TransientError` -- the platform should retry (storage unavailable,
  throttled, a concurrent writer won a race).

Storage errors also inherit the matching builtin, so ``except FileNotFoundError``
works on every backend (cloudpathlib's pattern).
"""

from __future__ import annotations


class PolythumbError(Exception):
    """Base of every error polythumb raises on purpose."""

    #: Short machine-readable classification, stable across versions.
    kind: str = "error"


class PermanentError(PolythumbError):
    """Retrying the same input cannot succeed."""

    kind = "permanent"


class TransientError(PolythumbError):
    """The same input may succeed later; the platform should retry."""

    kind = "transient"


# --- storage -----------------------------------------------------------------


class StorageError(PolythumbError):
    """Base of storage failures raised by a :class:`core.storage.Storage`."""

    kind = "storage"


class NotFound(StorageError, FileNotFoundError):
    """The object (or bucket) does not exist."""

    kind = "not_found"


class PermissionDenied(StorageError, PermissionError):
    """The credentials may not do this. Never reported as NotFound."""

    kind = "permission_denied"


class PreconditionFailed(StorageError):
    """A conditional request's condition (If-Match / generation) did not hold."""

    kind = "precondition_failed"


class AlreadyExists(PreconditionFailed, FileExistsError):
    """A create-only write found the object already there."""

    kind = "already_exists"


class StorageUnavailable(StorageError, TransientError, ConnectionError):
    """Timeouts, throttling, 5xx, connection resets: retry later."""

    kind = "storage_unavailable"


class InvalidKey(StorageError, PermanentError, ValueError):
    """A key the backend refuses (path traversal, control bytes, too long)."""

    kind = "invalid_key"


# --- images ------------------------------------------------------------------


class ImageError(PermanentError):
    """Base of the permanent errors about the source image itself."""

    kind = "image"


class NotAnImage(ImageError):
    """The bytes are not an image format polythumb can read."""

    kind = "not_an_image"


class TruncatedImage(ImageError):
    """The image header was readable but its data ends early or is corrupt."""

    kind = "truncated"


class UnsupportedImage(ImageError):
    """An image, but of a format or mode polythumb cannot render."""

    kind = "unsupported"


class ImageTooLarge(ImageError):
    """Over ``THUMBS_MAX_PIXELS`` or ``THUMBS_MAX_BYTES``; refused before decoding."""

    kind = "too_large"


# --- events and configuration ------------------------------------------------


class MalformedEvent(PermanentError, ValueError):
    """A provider envelope that is not what the entrypoint expects."""

    kind = "malformed_event"


class ConfigError(PermanentError, ValueError):
    """A ``THUMBS_*`` setting is missing, unknown or invalid.

    The message names the variable and the accepted values.
    """

    kind = "config"


class Braked(PermanentError):
    """The deployment is braked (``polythumb brake <cloud>``): work that would render past the brake refuses to
    start. The message names the brake and ``polythumb release <cloud>``."""

    kind = "braked"


class OutputConflict(PermanentError):
    """An output key holds an object polythumb did not write (or wrote for another source)."""

    kind = "output_conflict"


class CopyPending(TransientError):
    """The source is the destination of a server-side copy that has not finished (Azure); retry later."""

    kind = "copy_pending"


class PrefixTooLarge(PermanentError):
    """A recursive directory delete met more objects than one event may examine; the rest is left."""

    kind = "prefix_too_large"


class SupersededError(TransientError):
    """A concurrent writer changed an output while we rendered; retry decides."""

    kind = "superseded"


class NotifyUnavailable(TransientError):
    """A completion event could not be published (target down, throttled, refused); the platform retries.

    The thumbnails are written by then, so the retry finds them unchanged and only publishes, with the
    same event id.
    """

    kind = "notify_unavailable"


class NotifyTimeout(NotifyUnavailable):
    """A completion target did not take the event before the publish's deadline.

    Same kind as :class:`NotifyUnavailable` (the platform retries); the delivery also stops publishing for
    its remaining events, which are retried without waiting on the target again.
    """


class EventTooLarge(PermanentError):
    """A completion event is over a target's size limit even without its output URLs; a retry cannot shrink it."""

    kind = "event_too_large"


class SigningUnavailable(TransientError):
    """A URL could not be signed now (the signing service timed out or failed); the platform retries."""

    kind = "signing_unavailable"


class SigningRefused(ConfigError):
    """The function's identity may not sign URLs (a missing role): a setting to fix, not a retry.

    The message names ``THUMBS_URL_MODE=signed`` and the permission to grant.
    """
