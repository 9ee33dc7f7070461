"""The alerts API: ``/api/alerts/...`` (docs/alerts.md, "Running alerts in the service").

Active alerts come from the running engine (its state is the persisted one plus the
step in progress); episodes, audit trails and silences come from the store. Analyst
operations go through :class:`~divergence.jobs.alerts_job.AlertsJob`, which persists
each with its audit record. Bodies are validated strictly (unknown keys refused, the
field named); every error is the service's JSON error with its status.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection
from starlette.responses import Response

from divergence.alerts.matchers import Matcher
from divergence.alerts.model import Alert, AuditRecord
from divergence.alerts.payload import alert_payload, rfc3339
from divergence.alerts.silences import Silence
from divergence.alerts.store import active_silences, add_silence, audit_trail, episodes
from divergence.alerts.store import expire_silence as store_expire_silence
from divergence.clock import NS_PER_SECOND, now_ns
from divergence.errors import BadRequestError, NotFoundError
from divergence.jobs.alerts_job import AlertsJob
from divergence.service.api_models import COMMON_ERRORS, body_doc, error_responses
from divergence.service.api_schemas import (
    AlertOut,
    AlertsOut,
    AuditOut,
    AuditRecordOut,
    EpisodesOut,
    SilenceOut,
    SilencesOut,
)
from divergence.service.deps import ServiceNotReady, get_runtime
from divergence.service.routes_api import JsonResponse, parse_optional_time
from divergence.service.routes_webhooks import JsonBody, parse_body

router = APIRouter(
    prefix="/api/alerts",
    tags=["alerts"],
    responses={**error_responses(400, 404), **COMMON_ERRORS},
)
_STRICT = ConfigDict(extra="forbid")
_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
_FAR_FUTURE = 2**62
_TIES = 10_000
MAX_SILENCE_S = 90 * 86_400
"""The longest silence the API accepts (90 days): a forgotten silence hides real alerts."""


class AcknowledgeIn(BaseModel):
    model_config = _STRICT
    actor: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=4_000)


class AssignIn(BaseModel):
    model_config = _STRICT
    actor: str = Field(min_length=1, max_length=200)
    assignee: str = Field(max_length=200)


class NoteIn(BaseModel):
    model_config = _STRICT
    actor: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=4_000)


class SilenceIn(BaseModel):
    """A silence: matchers, and an end (``ends_at``, or ``duration_s`` from the start)."""

    model_config = _STRICT
    matchers: list[Matcher] = Field(min_length=1)
    created_by: str = Field(min_length=1, max_length=200)
    comment: str = Field(default="", max_length=4_000)
    starts_at: str | None = None
    ends_at: str | None = None
    duration_s: float | None = Field(default=None, gt=0, le=MAX_SILENCE_S)


def get_alerts_job(conn: HTTPConnection) -> AlertsJob:
    job = getattr(get_runtime(conn), "alerts_job", None)
    if not isinstance(job, AlertsJob):
        raise ServiceNotReady("the alert engine is not running in this process")
    return job


AlertsDep = Annotated[AlertsJob, Depends(get_alerts_job)]


def check_fingerprint(fp: str) -> str:
    if not _FINGERPRINT.match(fp):
        raise BadRequestError(f"fingerprint: expected 16 hex digits, found {fp!r}")
    return fp


def render_alert(alert: Alert, others: dict[str, Alert]) -> dict[str, Any]:
    """The payload form of an alert, plus what only the API shows."""
    return alert_payload(alert, others=others) | {
        "state": alert.state,
        "acknowledged_at": rfc3339(alert.acknowledged_at),
        "silenced_by": list(alert.silenced_by),
        "inhibited_by": list(alert.inhibited_by),
        "muted": alert.muted,
        "episode": alert.episode,
    }


def render_record(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "ts": rfc3339(record.ts),
        "fingerprint": record.fingerprint,
        "episode": record.episode,
        "rule": record.rule_id,
        "action": record.action,
        "actor": record.actor,
        "detail": dict(record.detail),
    }


def render_silence(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "matchers": [m.model_dump() for m in silence.matchers],
        "starts_at": rfc3339(silence.starts_at),
        "ends_at": rfc3339(silence.ends_at),
        "created_by": silence.created_by,
        "comment": silence.comment,
    }


def silence_from(spec: SilenceIn, *, now: int) -> Silence:
    """A new silence from the request (start defaults to ``now``, the engine's clock;
    one end required)."""
    start = parse_optional_time(spec.starts_at, name="starts_at") or now
    if (spec.ends_at is None) == (spec.duration_s is None):
        raise BadRequestError("ends_at, duration_s: give exactly one of them")
    if spec.duration_s is not None:
        end = start + round(spec.duration_s * NS_PER_SECOND)
    else:
        end = parse_optional_time(spec.ends_at, name="ends_at") or 0
    if end <= start:
        raise BadRequestError(f"ends_at: must be after starts_at ({rfc3339(start)})")
    if end - start > MAX_SILENCE_S * NS_PER_SECOND:
        raise BadRequestError(f"ends_at: a silence lasts at most {MAX_SILENCE_S} s")
    return Silence(
        id="sil_" + uuid.uuid4().hex[:24],
        matchers=tuple(spec.matchers),
        starts_at=start,
        ends_at=end,
        created_by=spec.created_by,
        comment=spec.comment,
    )


# -- static paths first: /silences and /episodes are not fingerprints ----------------------
@router.get(
    "/silences",
    response_class=JsonResponse,
    summary="List silences",
    response_model=SilencesOut,
)
async def list_silences(job: AlertsDep) -> JsonResponse:
    """Silences not yet ended at the engine's clock (active or starting later)."""
    now = job.data_now()
    found = await job.store.read(lambda s: active_silences(s, now_ns=now))
    return JsonResponse({"silences": [render_silence(s) for s in found]})


@router.post(
    "/silences",
    response_class=JsonResponse,
    status_code=201,
    summary="Create a silence",
    response_model=SilenceOut,
    openapi_extra=body_doc(
        SilenceIn,
        example={
            "matchers": [{"name": "venue", "op": "=", "value": "simx-b"}],
            "created_by": "ana",
            "duration_s": 3600,
        },
    ),
)
async def create_silence(job: AlertsDep, body: JsonBody) -> JsonResponse:
    """Mute notifications of alerts whose labels match every matcher, from ``starts_at``
    (default now) to ``ends_at`` or for ``duration_s`` (at most 90 days)."""
    silence = silence_from(parse_body(SilenceIn, body), now=job.data_now())
    wall = now_ns()
    await job.store.write(lambda s: add_silence(s, silence, now_ns=wall))
    return JsonResponse(render_silence(silence), status_code=201)


@router.delete("/silences/{silence_id}", status_code=204, summary="End a silence")
async def expire_silence(job: AlertsDep, silence_id: str) -> Response:
    """End a silence at the engine's clock (it stays in the table for the record)."""
    now = job.data_now()
    if not await job.store.write(lambda s: store_expire_silence(s, silence_id, now_ns=now)):
        raise NotFoundError(f"no silence {silence_id!r} that has not ended")
    return Response(status_code=204)


@router.get(
    "/episodes",
    response_class=JsonResponse,
    summary="Alert episodes in a time range",
    response_model=EpisodesOut,
)
async def list_episodes(
    job: AlertsDep,
    start: Annotated[str | None, Query(description="ISO 8601 or epoch ns")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch ns, exclusive")] = None,
    fingerprint: Annotated[str | None, Query(description="one alert only")] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> JsonResponse:
    """Alert episodes alive in ``[start, end)``, newest first (any state). Pages are cut
    between start times: pass ``next_end`` back as ``end`` for older episodes."""
    lo = parse_optional_time(start, name="start") or 0
    hi = parse_optional_time(end, name="end") or _FAR_FUTURE
    fp = "" if fingerprint is None else check_fingerprint(fingerprint)
    rows = await job.store.read(
        lambda s: episodes(s, start_ns=lo, end_ns=hi, fingerprint=fp, limit=limit + 1)
    )
    next_end = None
    if len(rows) > limit:
        boundary = rows[limit].active_at
        rows = [a for a in rows if a.active_at > boundary]
        if not rows:  # more than `limit` episodes began at one instant: return them all
            tied = await job.store.read(
                lambda s: episodes(s, start_ns=lo, end_ns=boundary + 1, fingerprint=fp, limit=_TIES)
            )
            rows = [a for a in tied if a.active_at == boundary]
            boundary -= 1
        next_end = str(boundary + 1)
    return JsonResponse({"episodes": [render_alert(a, {}) for a in rows], "next_end": next_end})


@router.get(
    "",
    response_class=JsonResponse,
    summary="Active alerts",
    response_model=AlertsOut,
)
async def list_alerts(job: AlertsDep) -> JsonResponse:
    """The active alerts (pending, firing, stale-data), by fingerprint."""
    alerts = job.active_alerts()
    others = {a.fingerprint: a for a in alerts}
    return JsonResponse(
        {
            "now": rfc3339(job.engine.state.now_ns),
            "alerts": [render_alert(a, others) for a in alerts],
        }
    )


@router.get(
    "/{fp}",
    response_class=JsonResponse,
    summary="One alert",
    response_model=AlertOut,
)
async def get_alert(
    job: AlertsDep, fp: str, episode: Annotated[int | None, Query()] = None
) -> JsonResponse:
    """The active episode of an alert, else its latest (or the given) stored episode."""
    alert = await job.find_episode(check_fingerprint(fp), episode=episode)
    return JsonResponse(render_alert(alert, dict(job.engine.state.alerts)))


@router.post(
    "/{fp}/acknowledge",
    response_class=JsonResponse,
    summary="Acknowledge an alert",
    response_model=AuditRecordOut,
    openapi_extra=body_doc(AcknowledgeIn, example={"actor": "ana", "note": "on it"}),
)
async def acknowledge(job: AlertsDep, fp: str, body: JsonBody) -> JsonResponse:
    """Acknowledge the alert's current episode; answers the audit record."""
    spec = parse_body(AcknowledgeIn, body)
    record = await job.acknowledge(check_fingerprint(fp), actor=spec.actor, note=spec.note)
    return JsonResponse(render_record(record))


@router.post(
    "/{fp}/assign",
    response_class=JsonResponse,
    summary="Assign an alert",
    response_model=AuditRecordOut,
    openapi_extra=body_doc(AssignIn, example={"actor": "ana", "assignee": "bob"}),
)
async def assign(job: AlertsDep, fp: str, body: JsonBody) -> JsonResponse:
    """Set (or clear, with ``""``) the assignee of the current episode; answers the
    audit record."""
    spec = parse_body(AssignIn, body)
    record = await job.assign(check_fingerprint(fp), actor=spec.actor, assignee=spec.assignee)
    return JsonResponse(render_record(record))


@router.post(
    "/{fp}/notes",
    response_class=JsonResponse,
    status_code=201,
    summary="Add a note to an alert",
    response_model=AuditRecordOut,
    openapi_extra=body_doc(NoteIn, example={"actor": "bob", "text": "venue confirmed"}),
)
async def add_note(job: AlertsDep, fp: str, body: JsonBody) -> JsonResponse:
    """Append a note to the current episode; answers the audit record."""
    spec = parse_body(NoteIn, body)
    record = await job.add_note(check_fingerprint(fp), actor=spec.actor, text=spec.text)
    return JsonResponse(render_record(record), status_code=201)


@router.get(
    "/{fp}/audit",
    response_class=JsonResponse,
    summary="An alert's audit trail",
    response_model=AuditOut,
)
async def audit(
    job: AlertsDep,
    fp: str,
    episode: Annotated[int | None, Query(description="active_at of one episode")] = None,
) -> JsonResponse:
    """The alert's audit records, oldest first (every episode unless one is given)."""
    check_fingerprint(fp)
    records = await job.store.read(lambda s: audit_trail(s, fp, episode=episode or 0))
    return JsonResponse({"fingerprint": fp, "records": [render_record(r) for r in records]})


@router.get(
    "/{fp}/evidence",
    summary="An alert's evidence bundle",
    responses={200: {"content": {"application/zip": {}}, "description": "a zip file"}},
)
async def evidence(
    job: AlertsDep,
    fp: str,
    episode: Annotated[int | None, Query(description="active_at of the episode")] = None,
) -> Response:
    """The evidence bundle (zip: manifest.json and one CSV per input table)."""
    content = await job.evidence(check_fingerprint(fp), episode=episode)
    name = f"alert-{fp}-{episode or 'latest'}.zip"
    return Response(
        content,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
