"""Response models of the JSON API's smaller answers, for the OpenAPI document.

Routes return :class:`~divergence.service.routes_api.JsonResponse` directly, so FastAPI
uses these as ``response_model`` for documentation only: nothing is validated or copied
on the way out. Every model allows extra keys (answers may grow); the keys listed are
the ones a client can rely on. Page-shaped answers use
:class:`~divergence.service.api_models.Page`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_OPEN = ConfigDict(extra="allow")


class HealthOut(BaseModel):
    model_config = _OPEN
    status: str = Field(examples=["ok"])


class MultiplierOut(BaseModel):
    effective_from: str
    effective_from_ns: int
    value: str = Field(description="exact decimal", examples=["1.0033"])


class InstrumentOut(BaseModel):
    model_config = _OPEN
    id: str = Field(examples=["AAPLx@simx-a"])
    role: str = Field(description="token | reference")
    venue: str
    symbol: str
    underlying: str
    quote_currency: str
    issuer: str | None
    product: str | None
    chain: str | None
    contract: str | None
    trading_hours: str
    multipliers: list[MultiplierOut]


class InstrumentsOut(BaseModel):
    instruments: list[InstrumentOut]


class FeedsOut(BaseModel):
    model_config = _OPEN
    healthy: bool
    feeds: list[dict[str, Any]] = Field(description="each running feed and its streams")
    history_only: dict[str, Any] = Field(description="event counts of venues not running")


class FeedEventOut(BaseModel):
    model_config = _OPEN
    ts: str
    ts_ns: int
    venue: str
    stream: str | None
    event: str
    detail: str | None
    value: float | None
    ingest_seq: int


class FeedEventsOut(BaseModel):
    events: list[FeedEventOut]
    next_before_seq: int | None


class AlertOut(BaseModel):
    model_config = _OPEN
    fingerprint: str = Field(examples=["3f2a9c0d1e4b5a6f"])
    rule: str
    severity: str
    state: str = Field(description="pending | firing | stale-data | resolved | cleared")
    labels: dict[str, str]
    summary: str
    acknowledged_by: str | None
    assignee: str | None


class AlertsOut(BaseModel):
    now: str | None
    alerts: list[AlertOut]


class EpisodesOut(BaseModel):
    episodes: list[AlertOut]
    next_end: str | None = Field(description="pass as `end` for older episodes")


class AuditRecordOut(BaseModel):
    model_config = _OPEN
    id: str
    ts: str | None
    fingerprint: str
    episode: int
    rule: str
    action: str
    actor: str
    detail: dict[str, Any]


class AuditOut(BaseModel):
    fingerprint: str
    records: list[AuditRecordOut]


class SilenceOut(BaseModel):
    model_config = _OPEN
    id: str
    matchers: list[dict[str, Any]]
    starts_at: str | None
    ends_at: str | None
    created_by: str
    comment: str


class SilencesOut(BaseModel):
    silences: list[SilenceOut]


class SecretOut(BaseModel):
    fingerprint: str
    created_at: str
    expires_at: str | None


class EndpointOut(BaseModel):
    model_config = _OPEN
    endpoint_id: str
    url: str
    description: str
    event_types: list[str]
    labels: dict[str, str]
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: str
    updated_at: str
    secrets: list[SecretOut]


class EndpointsOut(BaseModel):
    endpoints: list[EndpointOut]


class EventTypeOut(BaseModel):
    type: str
    schema_: dict[str, Any] = Field(alias="schema")


class EventTypesOut(BaseModel):
    event_types: list[EventTypeOut]


class QueuedOut(BaseModel):
    event_id: str
    webhook_id: str


class ReplayOut(BaseModel):
    endpoint_id: str
    requeued: int


class AttemptsOut(BaseModel):
    attempts: list[dict[str, Any]]
    next_before_id: int | None


class MessagesOut(BaseModel):
    messages: list[dict[str, Any]]
    next_before_seq: int | None
