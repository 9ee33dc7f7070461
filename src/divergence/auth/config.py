"""Settings of the HTTP service's access control: API keys, roles, dev mode and CORS."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServiceSettings(BaseModel):
    """Who may call the service, and from which browser origins."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dev_mode: bool = Field(
        default=False,
        description="no authentication (every request is admin); loud in logs and pages",
    )
    cors_origins: tuple[str, ...] = Field(
        default=(), description="browser origins allowed by CORS; empty turns CORS off"
    )
