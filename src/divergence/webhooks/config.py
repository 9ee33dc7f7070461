"""``WebhookSettings``: the ``webhooks`` section of the settings (docs/_draft_webhooks.md).

The model lives beside the code that uses it; :class:`divergence.settings.Settings`
carries it as ``webhooks``. Every field is validated strictly at start-up.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Svix's published schedule (docs.svix.com/retries), which the Standard Webhooks spec
# recommends: the delay before attempt 1, 2, ... (seconds); 8 attempts over ~28 hours.
DEFAULT_RETRY_SCHEDULE_S: tuple[float, ...] = (0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000)


class WebhookSettings(BaseModel):
    """Outbound webhook delivery: retries, auto-disable, secret rotation, URL policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(default=True, description="run the delivery worker")
    retry_schedule_s: tuple[float, ...] = Field(
        default=DEFAULT_RETRY_SCHEDULE_S,
        min_length=1,
        description="delay before each attempt; a message is given up after the last one",
    )
    jitter: float = Field(
        default=0.2, ge=0, lt=1, description="each delay is multiplied by 1 + U(-jitter, jitter)"
    )
    timeout_s: float = Field(default=15.0, gt=0, description="per attempt, connect to last byte")
    disable_after_failures: int = Field(
        default=24, ge=1, description="consecutive failed attempts that disable an endpoint"
    )
    secret_overlap_s: float = Field(
        default=86_400.0, ge=0, description="how long a rotated-out secret still signs"
    )
    max_body_bytes: int = Field(default=65_536, ge=1_024, description="larger payloads refused")
    max_in_flight: int = Field(default=8, ge=1, description="endpoints delivered concurrently")
    idle_poll_s: float = Field(
        default=30.0, gt=0, description="longest sleep between two looks at the outbox"
    )
    allowed_networks: tuple[str, ...] = Field(
        default=(),
        description="CIDRs allowed although not public (e.g. 127.0.0.0/8 for a local receiver)",
    )

    @field_validator("retry_schedule_s")
    @classmethod
    def _non_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError(f"delays must be >= 0 seconds, found {list(value)}")
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError as exc:
                raise ValueError(f"expected a CIDR such as 127.0.0.0/8, found {text!r}") from exc
        return value


def webhook_settings_of(settings: Any) -> WebhookSettings:
    """``settings.webhooks`` when the Settings object has that section, else the defaults."""
    section = getattr(settings, "webhooks", None)
    return section if isinstance(section, WebhookSettings) else WebhookSettings()
