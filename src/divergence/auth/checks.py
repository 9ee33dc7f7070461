"""Start-up checks of the access-control settings: refuse to serve an unsafe configuration.

:func:`check_service_settings` runs in ``create_app``, so ``divergence serve`` fails before
it binds a port. Each refusal is a :class:`~divergence.errors.ConfigError` naming the key.
Outside dev mode: at least one API key; no key whose hash is a placeholder's; no venue
credential that is a placeholder. Always: no two keys with one name or one hash; CORS
origins are exact ``scheme://host[:port]`` origins, never ``*``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from divergence.auth.keys import PLACEHOLDER_HASHES, is_placeholder
from divergence.errors import ConfigError

if TYPE_CHECKING:
    from divergence.settings import Settings

SOURCE = "settings"
HOW_TO_ADD = (
    "make a key with `divergence keys new --name NAME --role admin` and add the line it "
    "prints under [[service.api_keys]] (or DIVERGENCE_SERVICE__API_KEYS), or set "
    "service.dev_mode = true for local development only"
)
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


def check_service_settings(settings: Settings) -> None:
    """Raise :class:`ConfigError` naming the first unsafe key; return quietly if safe."""
    service = settings.service
    _check_unique(settings)
    _check_origins(service.cors_origins)
    if service.dev_mode:
        return
    if not service.api_keys:
        raise ConfigError(
            f"no API keys configured and service.dev_mode is false: {HOW_TO_ADD}",
            key="service.api_keys",
            source=SOURCE,
        )
    for i, spec in enumerate(service.api_keys):
        if spec.sha256 in PLACEHOLDER_HASHES:
            raise ConfigError(
                f"key {spec.name!r} is a placeholder (the hash of a well-known word such as "
                "'changeme'); make a real one with `divergence keys new`",
                key=f"service.api_keys[{i}].sha256",
                source=SOURCE,
            )
    for venue, venue_spec in settings.venues.items():
        for field in ("api_key", "api_secret"):
            secret = getattr(venue_spec, field)
            if secret is not None and is_placeholder(secret.get_secret_value()):
                raise ConfigError(
                    "is a placeholder, not a credential; set the venue's real one "
                    "(or service.dev_mode = true for local development only)",
                    key=f"venues.{venue}.{field}",
                    source=SOURCE,
                )


def _check_unique(settings: Settings) -> None:
    names: dict[str, int] = {}
    hashes: dict[str, int] = {}
    for i, spec in enumerate(settings.service.api_keys):
        if spec.name in names:
            raise ConfigError(
                f"name {spec.name!r} is already used by service.api_keys[{names[spec.name]}]",
                key=f"service.api_keys[{i}].name",
                source=SOURCE,
            )
        if spec.sha256 in hashes:
            raise ConfigError(
                f"key {spec.name!r} has the same hash as service.api_keys[{hashes[spec.sha256]}]"
                " (one key, two entries); make a new key for each holder",
                key=f"service.api_keys[{i}].sha256",
                source=SOURCE,
            )
        names[spec.name], hashes[spec.sha256] = i, i


def _check_origins(origins: tuple[str, ...]) -> None:
    for i, origin in enumerate(origins):
        if not _ORIGIN.match(origin):
            raise ConfigError(
                f"expected an exact origin such as https://desk.example.com, found {origin!r}"
                " ('*' is not allowed: credentials must never be sent to any site)",
                key=f"service.cors_origins[{i}]",
                source=SOURCE,
            )
