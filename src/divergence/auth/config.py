"""Settings of the HTTP service's access control: API keys, roles, dev mode and CORS.

A key is never stored: ``api_keys`` holds its name, role and the hex SHA-256 of the key
(``divergence keys new`` makes a key and prints its line). Keys come from the TOML file
(``[[service.api_keys]]``) or the environment as JSON
(``DIVERGENCE_SERVICE__API_KEYS='[{"name": "ops", "role": "admin", "sha256": "..."}]'``).
Whether the configuration is safe to serve (keys present, none a placeholder, no two
alike) is checked at start-up by :func:`divergence.auth.checks.check_service_settings`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from divergence.auth.roles import Role

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ApiKeySpec(BaseModel):
    """One API key: who holds it, what it may do, and the SHA-256 of the key itself."""

    model_config = _STRICT
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$",
        description="who holds the key; shown in logs and audit, never the key",
    )
    role: Role = Field(description="viewer, analyst or admin")
    sha256: str = Field(
        pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the key (never the key)"
    )

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class ServiceSettings(BaseModel):
    """Who may call the service, and from which browser origins."""

    model_config = _STRICT
    dev_mode: bool = Field(
        default=False,
        description="no authentication (every request is admin); loud in logs and pages",
    )
    cors_origins: tuple[str, ...] = Field(
        default=(), description="browser origins allowed by CORS; empty turns CORS off"
    )
    api_keys: tuple[ApiKeySpec, ...] = Field(
        default=(), description="API keys (name, role, sha256); required unless dev_mode"
    )
