"""The ``data`` member of an alert notification, and its JSON Schema.

The delivery side (:mod:`divergence.webhooks`) wraps ``data`` in the Standard Webhooks
envelope ``{"type", "timestamp", "data"}``; ``type`` is the notification's type
(``alert.firing``, ``alert.resolved``, ``alert.stale_data``). Times are RFC 3339 UTC
strings with nine fractional digits. docs/alerts.md ("Notification payload") has an
example; :data:`ALERT_DATA_SCHEMA` is the contract, versioned by ``version``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from divergence.alerts.model import Alert, GroupState, NotificationType
from divergence.clock import NS_PER_SECOND

PAYLOAD_VERSION = "1"
STATUS_OF: Mapping[NotificationType, str] = {
    "alert.firing": "firing",
    "alert.resolved": "resolved",
    "alert.stale_data": "stale-data",
}


def rfc3339(ts_ns: int | None) -> str | None:
    """``2025-10-10T19:56:35.000000000Z`` for epoch ns (None stays None)."""
    if ts_ns is None:
        return None
    seconds, fraction = divmod(ts_ns, NS_PER_SECOND)
    whole = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{fraction:09d}Z"


def alert_payload(alert: Alert, *, others: Mapping[str, Alert]) -> dict[str, Any]:
    """One alert as notified; ``others`` resolves ``explained_by`` fingerprints."""
    return {
        "fingerprint": alert.fingerprint,
        "rule": alert.rule_id,
        "severity": alert.labels.get("severity", ""),
        "status": alert.state,
        "labels": dict(sorted(alert.labels.items())),
        "summary": alert.summary,
        "value": alert.value,
        "value_text": alert.value_text,
        "threshold": alert.threshold,
        "session": alert.session,
        "active_at": rfc3339(alert.active_at),
        "starts_at": rfc3339(alert.fired_at),
        "ends_at": rfc3339(alert.ends_at),
        "stale_since": rfc3339(alert.stale_since),
        "explained_by": [
            {
                "fingerprint": fp,
                "rule": others[fp].rule_id if fp in others else None,
                "summary": others[fp].summary if fp in others else None,
            }
            for fp in alert.explained_by
        ],
        "annotations": dict(alert.notes),
        "acknowledged_by": alert.acknowledged_by,
        "assignee": alert.assignee,
        "evidence_path": f"/api/alerts/{alert.fingerprint}/evidence?episode={alert.episode}",
    }


def notification_data(
    kind: NotificationType,
    group: GroupState,
    alerts: Sequence[Alert],
    *,
    seq: int,
    repeat: bool,
    others: Mapping[str, Alert],
) -> dict[str, Any]:
    """The ``data`` of one notification: the group and its alerts, sorted by fingerprint."""
    return {
        "version": PAYLOAD_VERSION,
        "status": STATUS_OF[kind],
        "group": {"name": group.name, "key": group.key, "labels": dict(group.labels)},
        "seq": seq,
        "repeat": repeat,
        "alerts": [
            alert_payload(a, others=others) for a in sorted(alerts, key=lambda a: a.fingerprint)
        ],
    }


_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXT = {"type": ["string", "null"]}
_NUMBER = {"type": ["number", "null"]}
_ALERT_PROPERTIES: dict[str, Any] = {
    "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
    "rule": {"type": "string"},
    "severity": {"enum": ["info", "warning", "critical"]},
    "status": {"enum": ["firing", "stale-data", "resolved"]},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "summary": {"type": "string"},
    "value": _NUMBER,
    "value_text": _TEXT,
    "threshold": _NUMBER,
    "session": _TEXT,
    "active_at": _TIME,
    "starts_at": _TIME,
    "ends_at": _TIME,
    "stale_since": _TIME,
    "explained_by": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["fingerprint", "rule", "summary"],
            "properties": {"fingerprint": {"type": "string"}, "rule": _TEXT, "summary": _TEXT},
        },
    },
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "acknowledged_by": _TEXT,
    "assignee": _TEXT,
    "evidence_path": {"type": "string"},
}
ALERT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(_ALERT_PROPERTIES),
    "properties": _ALERT_PROPERTIES,
}
ALERT_DATA_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://divergence.invalid/schemas/alert-data-v1.json",
    "title": "divergence alert notification data (alert.firing, alert.resolved, alert.stale_data)",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "status", "group", "seq", "repeat", "alerts"],
    "properties": {
        "version": {"const": PAYLOAD_VERSION},
        "status": {"enum": ["firing", "resolved", "stale-data"]},
        "group": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "key", "labels"],
            "properties": {
                "name": {"type": "string"},
                "key": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "seq": {"type": "integer", "minimum": 0},
        "repeat": {"type": "boolean"},
        "alerts": {"type": "array", "minItems": 1, "items": ALERT_SCHEMA},
    },
}
"""JSON Schema (2020-12) of ``data`` for every alert event type."""
