"""Keys of polythumb's own outputs besides thumbnails: the manifest of each source."""

from __future__ import annotations

from core.config import DEFAULT_MANIFEST_KEY, Config
from core.errors import ConfigError
from core.keys import fill_template

MANIFEST_BOX = "manifest"  # the polythumb_box value that marks a manifest
MANIFEST_KEY_FIX = "change THUMBS_MANIFEST_KEY"  # what a refusal of a manifest's key tells the user to do
#: The default THUMBS_MANIFEST_KEY of earlier releases: ``a.jpg`` and ``a.png`` shared ``a.thumbs.json``. Deployments
#: on the default move to :data:`core.config.DEFAULT_MANIFEST_KEY`; a manifest left at the old key is
#: removed when its source is re-rendered or deleted (only if it names that source).
LEGACY_MANIFEST_KEY = "{dir}/{stem}.thumbs.json"


def manifest_key(config: Config, source_key: str) -> str:
    """The manifest's key for ``source_key`` (``THUMBS_MANIFEST_KEY``, default ``{dir}/{name}.thumbs.json``).

    Raises:
        InvalidKey: The key would have a ``.`` or ``..`` segment (:func:`core.keys.check_rendered_key`).
    """
    return fill_template(config.manifest_key, source_key)


def legacy_manifest_key(config: Config, source_key: str) -> str | None:
    """Where the manifest of ``source_key`` was before the default key became one per source.

    None unless THUMBS_MANIFEST_KEY is the default (a chosen template was never moved), or when the old
    key is the current one.
    """
    if config.manifest_key != DEFAULT_MANIFEST_KEY:
        return None
    legacy = fill_template(LEGACY_MANIFEST_KEY, source_key)
    return None if legacy == manifest_key(config, source_key) else legacy


def owned_keys(config: Config, source_key: str) -> set[str]:
    """Every key polythumb writes for ``source_key`` under ``config``: thumbnails, and the manifest if enabled."""
    keys = {output.key for output in config.profiles.outputs_for(source_key)}
    if config.manifest:
        keys.add(manifest_key(config, source_key))
    return keys


def check_manifest_key(config: Config) -> None:
    """A manifest must never land on a thumbnail's key (of any profile).

    Raises:
        ConfigError: naming THUMBS_MANIFEST_KEY and what it accepts.
    """
    if not config.manifest:
        return
    profiles, sample = config.profiles, "photos/sample.jpg"
    taken = {output.key for profile in profiles.profiles for output in profiles.outputs_of(profile, sample)}
    if manifest_key(config, sample) in taken:
        raise ConfigError(
            f"THUMBS_MANIFEST_KEY={config.manifest_key!r} gives the key of a thumbnail; accepted values: a "
            "template that differs from THUMBS_KEY_TEMPLATE (and the profiles' key_template), "
            "e.g. {dir}/{name}.thumbs.json"
        )
