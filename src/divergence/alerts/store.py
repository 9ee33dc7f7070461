"""Persist the alert engine in DuckDB: state, audit log, silences, evidence bundles.

The engine is pure; this module is its edge. Tables (``sql/schema/0060``-``0063``):
``alerts`` (one row per episode, latest state), ``alert_audit`` (append-only),
``alert_groups`` (the groups' memory) and ``alert_silences``; the instant of the last
persisted step is ``job_state`` row ``alerts``. Every statement is a file
``sql/queries/alert_*.sql`` with bound parameters.

**Crash safety.** Step the engine on a fixed grid of instants (e.g. whole seconds of
watermark time). For each step: compute it, enqueue its notifications (the outbox's
enqueue is idempotent by notification id), then :func:`save_step` in one transaction.
A crash between the two recomputes the same step from the same saved state and inputs
after the restart, so the same ids are enqueued again and ignored; audit ids are stable
too, so re-appending them is a no-op.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson
import polars as pl

from divergence.alerts.evidence import EvidenceSpec
from divergence.alerts.matchers import Matcher
from divergence.alerts.model import Alert, AuditRecord, EngineState, GroupState, NotifiedAlert
from divergence.alerts.silences import Silence
from divergence.errors import StoreError
from divergence.store.db import Store

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_ALERT_TIMES = (
    "active_at", "fired_at", "ends_at", "stale_since", "last_ts", "acknowledged_at", "updated_at"
)  # fmt: skip
_ALERT_JSON = ("labels", "scope", "explained_by", "notes", "inhibited_by", "silenced_by")


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _run(store: Store, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    return store.rows(name, params)


def transaction(store: Store) -> AbstractContextManager[None]:
    """BEGIN ... COMMIT on this thread's cursor; ROLLBACK when the block raises."""
    return store.transaction()


def alert_params(alert: Alert) -> dict[str, Any]:
    """An alert as the parameters of ``alert_upsert`` (JSON columns encoded)."""
    return {
        "fingerprint": alert.fingerprint,
        "rule_id": alert.rule_id,
        "state": alert.state,
        "labels": _dumps(dict(alert.labels)),
        "scope": _dumps(dict(alert.scope)),
        "value": alert.value,
        "value_text": alert.value_text,
        "threshold": alert.threshold,
        "session": alert.session,
        "summary": alert.summary,
        "explained_by": _dumps(list(alert.explained_by)),
        "notes": _dumps([list(n) for n in alert.notes]),
        "inhibited_by": _dumps(list(alert.inhibited_by)),
        "silenced_by": _dumps(list(alert.silenced_by)),
        "muted": alert.muted,
        "acknowledged_by": alert.acknowledged_by,
        "assignee": alert.assignee,
        **{name: getattr(alert, name) for name in _ALERT_TIMES},
    }


def alert_from_row(row: Mapping[str, Any]) -> Alert:
    """An alert from an ``alerts`` row (times as ns, JSON columns decoded)."""
    decoded = {name: orjson.loads(row[name]) for name in _ALERT_JSON}
    return Alert(
        fingerprint=row["fingerprint"],
        rule_id=row["rule_id"],
        labels=decoded["labels"],
        scope=decoded["scope"],
        state=row["state"],
        value=row["value"],
        value_text=row["value_text"],
        threshold=row["threshold"],
        session=row["session"],
        summary=row["summary"],
        explained_by=tuple(decoded["explained_by"]),
        notes=tuple((name, note) for name, note in decoded["notes"]),
        inhibited_by=tuple(decoded["inhibited_by"]),
        silenced_by=tuple(decoded["silenced_by"]),
        muted=bool(row["muted"]),
        acknowledged_by=row["acknowledged_by"],
        assignee=row["assignee"],
        **{name: row[name] for name in _ALERT_TIMES},
    )


def _alert_json(alert: Alert) -> dict[str, Any]:
    params = alert_params(alert)
    return params | {name: orjson.loads(params[name]) for name in _ALERT_JSON}


def _group_params(group: GroupState) -> dict[str, Any]:
    notified = {
        fp: {"fired_at": n.fired_at, "state": n.state, "explained_by": list(n.explained_by)}
        for fp, n in group.notified.items()
    }
    return {
        "group_key": group.key,
        "name": group.name,
        "labels": _dumps(dict(group.labels)),
        "created_at": group.created_at,
        "seq": group.seq,
        "last_flush_at": group.last_flush_at,
        "last_firing_at": group.last_firing_at,
        "notified": _dumps(notified),
        "resolved": _dumps([_alert_json(a) for a in group.resolved]),
    }


def _group_from_row(row: Mapping[str, Any]) -> GroupState:
    notified = {
        fp: NotifiedAlert(n["fired_at"], n["state"], tuple(n["explained_by"]))
        for fp, n in orjson.loads(row["notified"]).items()
    }
    resolved = []
    for item in orjson.loads(row["resolved"]):
        resolved.append(alert_from_row(item | {k: _dumps(item[k]) for k in _ALERT_JSON}))
    return GroupState(
        key=row["group_key"],
        name=row["name"],
        labels=orjson.loads(row["labels"]),
        created_at=row["created_at"],
        seq=row["seq"],
        last_flush_at=row["last_flush_at"],
        last_firing_at=row["last_firing_at"],
        notified=notified,
        resolved=tuple(resolved),
    )


def _append_audit(store: Store, records: Sequence[AuditRecord], now_ns: int) -> None:
    for r in records:
        params = {
            "audit_id": r.id,
            "ts": r.ts,
            "fingerprint": r.fingerprint,
            "episode": r.episode,
            "rule_id": r.rule_id,
            "action": r.action,
            "actor": r.actor,
            "detail": _dumps(dict(r.detail)),
            "recorded_at": now_ns,
        }
        _run(store, "alert_audit_insert", params)


def save_step(
    store: Store,
    previous: EngineState,
    state: EngineState,
    *,
    ended: Sequence[Alert],
    audit: Sequence[AuditRecord],
    now_ns: int,
    also: Callable[[Store], object] | None = None,
) -> None:
    """Persist one step (``previous`` → ``state``) in one transaction: changed and ended
    episodes, dropped pending ones as ``cleared``, the audit records, the groups and the
    step's instant. ``now_ns`` is the wall clock (``recorded_at``). ``also`` writes more
    in the same transaction (the step's notifications into the webhook outbox), so a
    crash keeps both or neither."""
    with transaction(store):
        if also is not None:
            also(store)
        for fp, alert in state.alerts.items():
            if previous.alerts.get(fp) != alert:
                _run(store, "alert_upsert", alert_params(alert))
        for alert in ended:
            _run(store, "alert_upsert", alert_params(alert))
        gone = {(a.fingerprint, a.active_at) for a in ended}
        for fp, alert in previous.alerts.items():
            current = state.alerts.get(fp)
            dropped = current is None or current.active_at != alert.active_at
            if dropped and (fp, alert.active_at) not in gone:
                params = {"fingerprint": fp, "active_at": alert.active_at, "updated_at": now_ns}
                _run(store, "alert_mark_cleared", params)
        _append_audit(store, audit, now_ns)
        _run(store, "alert_groups_clear")
        for group in state.groups.values():
            _run(store, "alert_group_insert", _group_params(group))
        if state.now_ns is not None:
            params = {"watermark_ns": state.now_ns, "updated_at": now_ns}
            _run(store, "alert_engine_state_save", params)


def load_state(store: Store) -> EngineState:
    """The engine state of the last :func:`save_step` (empty on a new database)."""
    alerts = {row["fingerprint"]: alert_from_row(row) for row in _run(store, "alerts_active")}
    groups = {row["group_key"]: _group_from_row(row) for row in _run(store, "alert_groups")}
    rows = _run(store, "alert_engine_state_load")
    return EngineState(
        alerts=alerts, groups=groups, now_ns=rows[0]["watermark_ns"] if rows else None
    )


def save_case(store: Store, state: EngineState, record: AuditRecord, *, now_ns: int) -> None:
    """Persist an analyst operation (acknowledge, assign, note): the alert and its record."""
    with transaction(store):
        alert = state.alerts.get(record.fingerprint)
        if alert is not None:
            _run(store, "alert_upsert", alert_params(alert))
        _append_audit(store, [record], now_ns)


def audit_trail(store: Store, fingerprint: str, *, episode: int = 0) -> list[AuditRecord]:
    """An alert's audit records, oldest first (one episode, or all with ``episode=0``)."""
    rows = _run(store, "alert_audit_list", {"fingerprint": fingerprint, "episode": episode})
    return [
        AuditRecord(
            ts=row["ts"],
            fingerprint=row["fingerprint"],
            episode=row["episode"],
            rule_id=row["rule_id"],
            action=row["action"],
            actor=row["actor"],
            detail=orjson.loads(row["detail"]),
        )
        for row in rows
    ]


def episodes(
    store: Store, *, start_ns: int, end_ns: int, fingerprint: str = "", limit: int = 100
) -> list[Alert]:
    """Alert episodes alive in ``[start_ns, end_ns)``, newest first."""
    params = {"start": start_ns, "end": end_ns, "fingerprint": fingerprint, "limit": limit}
    return [alert_from_row(row) for row in _run(store, "alert_episodes", params)]


def add_silence(store: Store, silence: Silence, *, now_ns: int) -> None:
    params = {
        "silence_id": silence.id,
        "matchers": _dumps([m.model_dump() for m in silence.matchers]),
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "created_by": silence.created_by,
        "comment": silence.comment,
        "created_at": now_ns,
    }
    _run(store, "alert_silence_insert", params)


def expire_silence(store: Store, silence_id: str, *, now_ns: int) -> bool:
    """End a silence now; False when it had already ended (or does not exist)."""
    return bool(_run(store, "alert_silence_expire", {"silence_id": silence_id, "now": now_ns}))


def active_silences(store: Store, *, now_ns: int) -> list[Silence]:
    """The silences not yet ended at ``now_ns`` (the engine's ``silences`` input)."""
    return [
        Silence(
            id=row["silence_id"],
            matchers=tuple(Matcher(**m) for m in orjson.loads(row["matchers"])),
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            created_by=row["created_by"],
            comment=row["comment"],
        )
        for row in _run(store, "alert_silences_active", {"now": now_ns})
    ]


def build_evidence(store: Store, spec: EvidenceSpec) -> tuple[dict[str, pl.DataFrame], list[str]]:
    """Run the spec's queries: rows per table, and the tables this database lacks."""
    present = {row["table_name"] for row in _run(store, "alert_evidence_tables")}
    frames: dict[str, pl.DataFrame] = {}
    missing: list[str] = []
    for query in spec.inputs:
        names = (query.table, query.time_column, *query.filters)
        if not all(_IDENTIFIER.match(n) for n in names):
            raise StoreError(f"evidence query names must be identifiers, found {names!r}")
        if query.table not in present:
            missing.append(query.table)
            continue
        sql, params = query.prepared()
        frames[query.table] = store.query(sql, params)
    return frames, missing


def evidence_zip(store: Store, spec: EvidenceSpec) -> bytes:
    """The evidence bundle as a zip: ``manifest.json`` and one ``<table>.csv`` per input."""
    frames, missing = build_evidence(store, spec)
    manifest = spec.manifest() | {"missing_tables": missing, "rows": {}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for table, frame in frames.items():
            manifest["rows"][table] = frame.height
            bundle.writestr(f"{table}.csv", frame.write_csv())
        bundle.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return buffer.getvalue()
