"""Analyst operations on an alert: acknowledge, assign, add a note (pure).

Each returns the next engine state and the :class:`~divergence.alerts.model.AuditRecord`
to append to the audit log; the store appends it in the same transaction that saves the
state. They act on the current episode of an active alert (pending, firing or
stale-data): a new episode starts unacknowledged and unassigned. Notes are audit records
only.
"""

from __future__ import annotations

from dataclasses import replace

from divergence.alerts.model import Alert, AuditRecord, EngineState, audit
from divergence.errors import BadRequestError, NotFoundError

MAX_NOTE_CHARS = 4_000


def _active(state: EngineState, fp: str) -> Alert:
    alert = state.alerts.get(fp)
    if alert is None:
        raise NotFoundError(f"no active alert with fingerprint {fp!r}")
    return alert


def _actor(actor: str) -> str:
    if not actor.strip():
        raise BadRequestError("actor: expected a user name, found an empty string")
    return actor


def _with(state: EngineState, alert: Alert) -> EngineState:
    return replace(state, alerts={**state.alerts, alert.fingerprint: alert})


def acknowledge(
    state: EngineState, fp: str, *, actor: str, now_ns: int, note: str = ""
) -> tuple[EngineState, AuditRecord]:
    """Mark the alert acknowledged by ``actor`` (again: the latest one counts)."""
    alert = replace(_active(state, fp), acknowledged_by=_actor(actor), acknowledged_at=now_ns)
    return _with(state, alert), audit(alert, "acknowledged", now_ns, actor=actor, note=note)


def assign(
    state: EngineState, fp: str, *, actor: str, assignee: str, now_ns: int
) -> tuple[EngineState, AuditRecord]:
    """Assign the alert to ``assignee`` (``""`` unassigns)."""
    alert = replace(_active(state, fp), assignee=assignee or None)
    record = audit(alert, "assigned", now_ns, actor=_actor(actor), assignee=assignee or None)
    return _with(state, alert), record


def add_note(
    state: EngineState, fp: str, *, actor: str, text: str, now_ns: int
) -> tuple[EngineState, AuditRecord]:
    """Append a note to the alert's audit trail."""
    alert = _active(state, fp)
    if not text.strip() or len(text) > MAX_NOTE_CHARS:
        raise BadRequestError(f"text: expected 1 to {MAX_NOTE_CHARS} characters, found {len(text)}")
    return state, audit(alert, "note", now_ns, actor=_actor(actor), text=text)
