"""The durable outbox in DuckDB: enqueue, the next message per endpoint, attempt records,
replay. Synchronous; runs on one of the Store's threads.

Guarantees (docs/_draft_webhooks.md):

- **Idempotent enqueue.** ``webhook_events`` is keyed by the caller's ``event_id``; a
  second enqueue of the same id changes nothing. The body is rendered and stored once.
- **Stable ids.** Every delivery of an event, to any endpoint, on every retry and replay,
  carries the same ``webhook-id`` (:func:`webhook_id_for`) and the stored body, so a
  receiver that deduplicates by ``webhook-id`` sees each event once.
- **Nothing lost.** The event row and its outbox rows commit in one transaction; a
  message leaves ``pending`` only in the transaction that records a 2xx answer (or the
  last failed attempt). A crash between sending and recording resends under the same id.
- **Order per endpoint.** Only an endpoint's oldest pending row (by ``seq``) is eligible.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from divergence.errors import BadRequestError
from divergence.store.db import Store
from divergence.webhooks.db import run, transaction
from divergence.webhooks.endpoints import Endpoint, list_endpoints
from divergence.webhooks.payloads import labels_of, render_body
from divergence.webhooks.retry import AttemptResult, Decision

log = logging.getLogger(__name__)
MAX_EVENT_ID_CHARS = 256
_WEBHOOK_ID = re.compile(r"^msg_[0-9a-f]{32}$")


@dataclass(frozen=True)
class Enqueued:
    """The result of an enqueue: the event's webhook-id and who it was queued for."""

    event_id: str
    webhook_id: str
    created: bool
    """False when the event id was already known (nothing changed)."""
    endpoint_ids: tuple[str, ...]
    """Endpoints that got a row (pending, or skipped for disabled ones) by this call."""


@dataclass(frozen=True)
class Message:
    """The next message of one endpoint, as the worker sends it."""

    endpoint_id: str
    webhook_id: str
    event_id: str
    seq: int
    attempts: int
    next_attempt_ns: int
    url: str
    body: bytes


def webhook_id_for(event_id: str) -> str:
    """The ``webhook-id`` of every delivery of ``event_id``: the id itself when it already
    is one (``msg_`` + 32 hex digits, as the alert engine's notification ids are), else
    ``msg_`` + the first 32 hex digits of its SHA-256."""
    if _WEBHOOK_ID.match(event_id):
        return event_id
    return "msg_" + hashlib.sha256(event_id.encode()).hexdigest()[:32]


def check_event_id(event_id: str) -> str:
    if not event_id or len(event_id) > MAX_EVENT_ID_CHARS or not event_id.isprintable():
        raise BadRequestError(
            f"event_id: expected 1 to {MAX_EVENT_ID_CHARS} printable characters, found {event_id!r}"
        )
    return event_id


def enqueue(
    store: Store,
    event_type: str,
    data: Mapping[str, Any],
    *,
    event_id: str,
    now_ns: int,
    max_body_bytes: int,
    occurred_at_ns: int | None = None,
    endpoint_ids: Sequence[str] | None = None,
) -> Enqueued:
    """Queue an event for every matching endpoint, in its own transaction (idempotent)."""
    with transaction(store):
        return write_event(
            store,
            event_type,
            data,
            event_id=event_id,
            now_ns=now_ns,
            max_body_bytes=max_body_bytes,
            occurred_at_ns=occurred_at_ns,
            endpoint_ids=endpoint_ids,
        )


def write_event(
    store: Store,
    event_type: str,
    data: Mapping[str, Any],
    *,
    event_id: str,
    now_ns: int,
    max_body_bytes: int,
    occurred_at_ns: int | None = None,
    endpoint_ids: Sequence[str] | None = None,
) -> Enqueued:
    """:func:`enqueue` inside the caller's open transaction (e.g. with an alert's state).

    ``endpoint_ids`` limits the event to those endpoints (a test message); by default
    every endpoint whose filters match gets a row: ``pending`` if it is enabled, else
    ``skipped`` (a replay can send it later).
    """
    body = render_body(
        event_type, data, occurred_at_ns=occurred_at_ns or now_ns, max_bytes=max_body_bytes
    )
    webhook_id = webhook_id_for(check_event_id(event_id))
    labels = labels_of(data)
    inserted = run(
        store,
        "webhook_event_insert",
        {
            "event_id": event_id,
            "webhook_id": webhook_id,
            "event_type": event_type,
            "occurred_at": occurred_at_ns or now_ns,
            "now": now_ns,
            "labels": orjson.dumps(labels).decode(),
            "body": body.decode(),
        },
    )
    if not inserted:
        _warn_if_changed(store, event_id, event_type, body)
        return Enqueued(event_id, webhook_id, created=False, endpoint_ids=())
    if endpoint_ids is not None:
        targets = [e for e in list_endpoints(store) if e.endpoint_id in endpoint_ids]
    else:
        targets = [e for e in list_endpoints(store) if e.matches(event_type, labels)]
    for endpoint in targets:
        state = "pending" if endpoint.enabled else "skipped"
        _queue(store, endpoint.endpoint_id, webhook_id, event_id, state=state, now_ns=now_ns)
    return Enqueued(event_id, webhook_id, True, tuple(e.endpoint_id for e in targets))


def _queue(
    store: Store, endpoint_id: str, webhook_id: str, event_id: str, *, state: str, now_ns: int
) -> bool:
    rows = run(
        store,
        "webhook_outbox_insert",
        {
            "endpoint_id": endpoint_id,
            "webhook_id": webhook_id,
            "event_id": event_id,
            "state": state,
            "now": now_ns,
        },
    )
    return bool(rows)


def _warn_if_changed(store: Store, event_id: str, event_type: str, body: bytes) -> None:
    known = orjson.loads(run(store, "webhook_event_get", {"event_id": event_id})[0]["body"])
    new = orjson.loads(body)
    if (known["type"], known["data"]) != (new["type"], new["data"]):
        log.warning(
            "event id enqueued again with different content; the first one is kept",
            extra={"event_id": event_id, "event_type": event_type},
        )


def heads(store: Store) -> list[Message]:
    """The oldest pending message of every enabled endpoint (due or not)."""
    return [
        Message(
            endpoint_id=row["endpoint_id"],
            webhook_id=row["webhook_id"],
            event_id=row["event_id"],
            seq=row["seq"],
            attempts=row["attempts"],
            next_attempt_ns=row["next_attempt_ns"],
            url=row["url"],
            body=row["body"].encode(),
        )
        for row in run(store, "webhook_outbox_heads", {})
    ]


def record_attempt(
    store: Store,
    message: Message,
    result: AttemptResult,
    decision: Decision,
    *,
    now_ns: int,
    disable_after: int,
) -> bool:
    """Log an attempt and apply its decision in one transaction; True if it disabled the
    endpoint."""
    with transaction(store):
        endpoint = run(
            store,
            "webhook_endpoint_record_attempt",
            {
                "endpoint_id": message.endpoint_id,
                "ok": result.ok,
                "gone": result.gone,
                "limit": disable_after,
                "reason": _disable_reason(result, disable_after),
                "now": now_ns,
            },
        )
        disabled = bool(endpoint) and not endpoint[0]["enabled"] and not result.ok
        run(
            store,
            "webhook_outbox_record",
            {
                "endpoint_id": message.endpoint_id,
                "webhook_id": message.webhook_id,
                "state": "pending" if decision.outcome == "retry" else decision.outcome,
                "last_error": result.error,
                "attempts_before": message.attempts,
                "last_status": result.status,
                "next_attempt": decision.next_attempt_ns,
                "now": now_ns,
            },
        )
        row = _attempt_row(message, result, decision, now_ns, disabled)
        run(store, "webhook_attempt_insert", row)
    return disabled


def _disable_reason(result: AttemptResult, limit: int) -> str:
    if result.gone:
        return "the endpoint answered 410 Gone"
    return f"{limit} consecutive failed attempts (last: {result.error})"


def _attempt_row(
    message: Message, result: AttemptResult, decision: Decision, now_ns: int, disabled: bool
) -> dict[str, Any]:
    return {
        "endpoint_id": message.endpoint_id,
        "webhook_id": message.webhook_id,
        "event_id": message.event_id,
        "attempt": message.attempts + 1,
        "ts": now_ns,
        "url": message.url,
        "status": result.status,
        "latency_ms": result.latency_ms,
        "error": result.error,
        "outcome": decision.outcome,
        "disabled": disabled,
    }


def replay(store: Store, endpoint: Endpoint, *, start_ns: int, end_ns: int, now_ns: int) -> int:
    """Send again, under the same webhook-ids, the events enqueued in ``[start, end)``
    that match the endpoint's filters; returns how many messages were (re)queued."""
    if end_ns <= start_ns:
        raise BadRequestError(f"end must be after start, found start={start_ns} end={end_ns}")
    count = 0
    with transaction(store):
        events = run(store, "webhook_events_range", {"start": start_ns, "end": end_ns})
        for event in events:
            if not endpoint.matches(event["event_type"], orjson.loads(event["labels"])):
                continue
            params = {"endpoint_id": endpoint.endpoint_id, "webhook_id": event["webhook_id"]}
            requeued = run(store, "webhook_outbox_requeue", {**params, "now": now_ns})
            inserted = not requeued and _queue(
                store, **params, event_id=event["event_id"], state="pending", now_ns=now_ns
            )
            count += bool(requeued) or inserted
    return count


def list_messages(
    store: Store, endpoint_id: str, *, state: str, before_seq: int, limit: int
) -> list[dict[str, Any]]:
    return run(
        store,
        "webhook_outbox_list",
        {"endpoint_id": endpoint_id, "state": state, "before_seq": before_seq, "limit": limit},
    )


def list_attempts(
    store: Store, endpoint_id: str, *, start_ns: int, end_ns: int, before_id: int, limit: int
) -> list[dict[str, Any]]:
    return run(
        store,
        "webhook_attempts_list",
        {
            "endpoint_id": endpoint_id,
            "start": start_ns,
            "end": end_ns,
            "before_id": before_id,
            "limit": limit,
        },
    )
