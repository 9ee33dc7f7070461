"""Webhook endpoints, their delivery log and replay: ``/api/webhooks/...``.

Secrets go in (create, rotate) and never come out: responses carry a 12-hex sha256
fingerprint per unexpired secret, and a request body that fails validation is answered
without echoing any input value (a mistyped ``secret`` key must not bounce the secret
back). Every error is the service's JSON error with its status.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from starlette.requests import HTTPConnection
from starlette.responses import Response

from divergence.errors import DivergenceError, NotFoundError
from divergence.service.api_models import COMMON_ERRORS, body_doc, error_responses
from divergence.service.api_schemas import (
    AttemptsOut,
    EndpointOut,
    EndpointsOut,
    EventTypesOut,
    MessagesOut,
    QueuedOut,
    ReplayOut,
)
from divergence.service.deps import ServiceNotReady, get_runtime
from divergence.service.routes_api import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    JsonResponse,
    iso_ns,
    parse_optional_time,
)
from divergence.webhooks.endpoints import Endpoint, EndpointChange
from divergence.webhooks.manager import WebhookService
from divergence.webhooks.payloads import EVENT_SCHEMAS, schema_for

router = APIRouter(
    prefix="/api/webhooks",
    tags=["webhooks"],
    responses={**error_responses(400, 404), **COMMON_ERRORS},
)
_FAR_FUTURE = 2**62
_STRICT = ConfigDict(extra="forbid")
M = TypeVar("M", bound=BaseModel)
State = Literal["pending", "delivered", "failed", "skipped", "cancelled"]


class RequestBodyError(DivergenceError):
    """A JSON body that does not fit; names the fields, never their values."""

    http_status = 422


class EndpointIn(BaseModel):
    model_config = _STRICT
    url: str
    secret: SecretStr
    description: str = ""
    event_types: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True


class EndpointPatch(BaseModel):
    model_config = _STRICT
    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    labels: dict[str, str] | None = None
    enabled: bool | None = None


class RotateIn(BaseModel):
    model_config = _STRICT
    secret: SecretStr
    overlap_s: float | None = Field(default=None, ge=0)


class ReplayIn(BaseModel):
    model_config = _STRICT
    start: str
    end: str


def get_webhooks(conn: HTTPConnection) -> WebhookService:
    service = getattr(get_runtime(conn), "webhooks", None)
    if not isinstance(service, WebhookService):
        raise ServiceNotReady("webhooks are not running in this process")
    return service


WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]
JsonBody = Annotated[dict[str, Any], Body()]


def parse_body(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        raise RequestBodyError("; ".join(problems)) from None


def render_endpoint(endpoint: Endpoint, secrets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint.endpoint_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "labels": endpoint.labels,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures,
        "created_at": iso_ns(endpoint.created_at_ns),
        "updated_at": iso_ns(endpoint.updated_at_ns),
        "secrets": [
            {
                "fingerprint": s["fingerprint"],
                "created_at": iso_ns(s["created_at_ns"]),
                "expires_at": None if s["expires_at_ns"] is None else iso_ns(s["expires_at_ns"]),
            }
            for s in secrets
            if s["endpoint_id"] == endpoint.endpoint_id
        ],
    }


async def _one(service: WebhookService, endpoint: Endpoint) -> dict[str, Any]:
    return render_endpoint(endpoint, await service.secrets_meta(endpoint.endpoint_id))


@router.get(
    "/event-types",
    response_class=JsonResponse,
    summary="Webhook event types",
    response_model=EventTypesOut,
)
async def event_types() -> JsonResponse:
    """Every event type a webhook can carry, with the JSON Schema of its ``data``."""
    return JsonResponse(
        {"event_types": [{"type": t, "schema": s} for t, s in sorted(EVENT_SCHEMAS.items())]}
    )


@router.get(
    "/event-types/{event_type}", response_class=JsonResponse, summary="One event type's schema"
)
async def event_type_schema(event_type: str) -> JsonResponse:
    """The JSON Schema of one event type's payload (404 for an unknown type)."""
    if event_type not in EVENT_SCHEMAS:
        known = ", ".join(sorted(EVENT_SCHEMAS))
        raise NotFoundError(f"unknown event type {event_type!r} (known: {known})")
    return JsonResponse(schema_for(event_type))


@router.post(
    "/endpoints",
    response_class=JsonResponse,
    status_code=201,
    summary="Create a webhook endpoint",
    response_model=EndpointOut,
    openapi_extra=body_doc(
        EndpointIn,
        example={"url": "https://example.com/hook", "secret": "whsec_...", "event_types": []},
    ),
)
async def create_endpoint(service: WebhooksDep, body: JsonBody) -> JsonResponse:
    """Register a URL and its signing secret (Standard Webhooks); the secret never comes
    back, only its fingerprint. ``event_types`` empty = every type."""
    spec = parse_body(EndpointIn, body)
    endpoint = await service.create_endpoint(
        url=spec.url,
        secret=spec.secret.get_secret_value(),
        description=spec.description,
        event_types=spec.event_types,
        labels=spec.labels,
        enabled=spec.enabled,
    )
    return JsonResponse(await _one(service, endpoint), status_code=201)


@router.get(
    "/endpoints",
    response_class=JsonResponse,
    summary="List webhook endpoints",
    response_model=EndpointsOut,
)
async def list_endpoints(service: WebhooksDep) -> JsonResponse:
    """Every endpoint with its state, failure count and unexpired secret fingerprints."""
    secrets = await service.secrets_meta()
    endpoints = await service.list_endpoints()
    return JsonResponse({"endpoints": [render_endpoint(e, secrets) for e in endpoints]})


@router.get(
    "/endpoints/{endpoint_id}",
    response_class=JsonResponse,
    summary="One endpoint",
    response_model=EndpointOut,
)
async def get_endpoint(service: WebhooksDep, endpoint_id: str) -> JsonResponse:
    """One endpoint (404 if unknown)."""
    return JsonResponse(await _one(service, await service.get_endpoint(endpoint_id)))


@router.patch(
    "/endpoints/{endpoint_id}",
    response_class=JsonResponse,
    summary="Change an endpoint",
    response_model=EndpointOut,
    openapi_extra=body_doc(EndpointPatch, example={"enabled": False}),
)
async def update_endpoint(service: WebhooksDep, endpoint_id: str, body: JsonBody) -> JsonResponse:
    """Change the URL, description, event types, labels or enabled flag; fields left out
    keep their value."""
    patch = parse_body(EndpointPatch, body)
    change = EndpointChange(
        url=patch.url,
        description=patch.description,
        event_types=None if patch.event_types is None else tuple(patch.event_types),
        labels=patch.labels,
        enabled=patch.enabled,
    )
    return JsonResponse(await _one(service, await service.update_endpoint(endpoint_id, change)))


@router.delete("/endpoints/{endpoint_id}", status_code=204, summary="Delete an endpoint")
async def delete_endpoint(service: WebhooksDep, endpoint_id: str) -> Response:
    """Delete the endpoint; its pending messages are cancelled, its log is kept."""
    await service.delete_endpoint(endpoint_id)
    return Response(status_code=204)


@router.post(
    "/endpoints/{endpoint_id}/rotate-secret",
    response_class=JsonResponse,
    summary="Rotate an endpoint's secret",
    response_model=EndpointOut,
    openapi_extra=body_doc(RotateIn, example={"secret": "whsec_...", "overlap_s": 3600}),
)
async def rotate_secret(service: WebhooksDep, endpoint_id: str, body: JsonBody) -> JsonResponse:
    """Add a new signing secret; the old one keeps signing for ``overlap_s`` seconds."""
    spec = parse_body(RotateIn, body)
    await service.rotate_secret(
        endpoint_id, spec.secret.get_secret_value(), overlap_s=spec.overlap_s
    )
    return JsonResponse(await _one(service, await service.get_endpoint(endpoint_id)))


@router.post(
    "/endpoints/{endpoint_id}/test",
    response_class=JsonResponse,
    status_code=202,
    summary="Send a test event",
    response_model=QueuedOut,
)
async def send_test(service: WebhooksDep, endpoint_id: str) -> JsonResponse:
    """Queue a ``test`` event for this endpoint only; delivery shows in its attempts."""
    queued = await service.send_test(endpoint_id)
    return JsonResponse(
        {"event_id": queued.event_id, "webhook_id": queued.webhook_id}, status_code=202
    )


@router.post(
    "/endpoints/{endpoint_id}/replay",
    response_class=JsonResponse,
    status_code=202,
    summary="Replay events to an endpoint",
    response_model=ReplayOut,
    openapi_extra=body_doc(
        ReplayIn, example={"start": "2025-10-10T13:30:00Z", "end": "2025-10-10T20:00:00Z"}
    ),
)
async def replay(service: WebhooksDep, endpoint_id: str, body: JsonBody) -> JsonResponse:
    """Queue again every event of ``[start, end)`` for this endpoint (same webhook ids,
    so receivers deduplicate); answers how many were requeued."""
    spec = parse_body(ReplayIn, body)
    start = parse_optional_time(spec.start, name="start") or 0
    end = parse_optional_time(spec.end, name="end") or _FAR_FUTURE
    count = await service.replay(endpoint_id, start_ns=start, end_ns=end)
    return JsonResponse({"endpoint_id": endpoint_id, "requeued": count}, status_code=202)


@router.get(
    "/endpoints/{endpoint_id}/attempts",
    response_class=JsonResponse,
    summary="Delivery attempts",
    response_model=AttemptsOut,
)
async def attempts(
    service: WebhooksDep,
    endpoint_id: str,
    start: Annotated[str | None, Query(description="ISO 8601 or epoch ns, inclusive")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch ns, exclusive")] = None,
    before_id: Annotated[int | None, Query(description="page cursor: next_before_id")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JsonResponse:
    """The delivery log of one endpoint, newest first: status, latency, error, outcome;
    page on with ``before_id`` = the previous page's ``next_before_id``."""
    rows = await service.attempts(
        endpoint_id,
        start_ns=parse_optional_time(start, name="start") or 0,
        end_ns=parse_optional_time(end, name="end") or _FAR_FUTURE,
        before_id=_FAR_FUTURE if before_id is None else before_id,
        limit=limit + 1,
    )
    page = [{"ts": iso_ns(r["ts_ns"]), **r} for r in rows[:limit]]
    more = len(rows) > limit
    return JsonResponse(
        {"attempts": page, "next_before_id": page[-1]["attempt_id"] if more else None}
    )


@router.get(
    "/endpoints/{endpoint_id}/messages",
    response_class=JsonResponse,
    summary="Outbox messages",
    response_model=MessagesOut,
)
async def messages(
    service: WebhooksDep,
    endpoint_id: str,
    state: Annotated[State | None, Query(description="only messages in this state")] = None,
    before_seq: Annotated[int | None, Query(description="page cursor: next_before_seq")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JsonResponse:
    """The endpoint's outbox (pending, delivered, failed, skipped, cancelled), newest
    first; page on with ``before_seq`` = the previous page's ``next_before_seq``."""
    rows = await service.messages(
        endpoint_id,
        state=state or "",
        before_seq=_FAR_FUTURE if before_seq is None else before_seq,
        limit=limit + 1,
    )
    page = [
        {
            **r,
            "next_attempt_at": iso_ns(r["next_attempt_ns"]),
            "created_at": iso_ns(r["created_at_ns"]),
        }
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return JsonResponse({"messages": page, "next_before_seq": page[-1]["seq"] if more else None})
