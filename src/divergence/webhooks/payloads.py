"""The versioned payload envelope and one JSON Schema per event type.

Every webhook body is one JSON object (the Standard Webhooks payload structure, plus a
``version``)::

    {"type": "alert.firing", "version": 1, "timestamp": "2025-10-10T14:30:00.000000000Z",
     "data": {...}}

``type`` is a dotted event type, ``timestamp`` when the event happened (RFC 3339, UTC,
nine fractional digits), ``version`` the schema version of this type (a breaking change
of ``data`` bumps it), and ``data`` the event itself. :data:`EVENT_SCHEMAS` holds a
JSON Schema (draft 2020-12) of the whole body per type; the API serves them at
``/api/webhooks/event-types``. The alert types (``alert.firing``, ``alert.resolved``,
``alert.stale_data``) carry the alert engine's notification ``data``, whose contract is
:data:`divergence.alerts.payload.ALERT_DATA_SCHEMA` (with ``status`` fixed per type);
``webhook.test`` is the message sent by the API's test button. A body is rendered once,
at enqueue, checked against its schema and stored, so every retry and replay sends the
same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from divergence.alerts.payload import ALERT_DATA_SCHEMA, STATUS_OF
from divergence.clock import NS_PER_SECOND, datetime_from_ns
from divergence.errors import DivergenceError
from divergence.webhooks.schema_check import check

SCHEMA_VERSION = 1
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
_TIME = {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}


class PayloadError(DivergenceError):
    """An event does not fit its type's schema (or is not JSON); names the problems."""

    http_status = 422


def _envelope(event_type: str, data: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "$schema": _DIALECT,
        "$id": f"urn:divergence:webhooks:{event_type}:v{SCHEMA_VERSION}",
        "title": f"{event_type} (version {SCHEMA_VERSION})",
        "description": description,
        "type": "object",
        "required": ["type", "version", "timestamp", "data"],
        "properties": {
            "type": {"const": event_type},
            "version": {"const": SCHEMA_VERSION},
            "timestamp": _TIME,
            "data": data,
        },
        "additionalProperties": False,
    }


def _alert_schema(event_type: str, status: str) -> dict[str, Any]:
    """The alert engine's ``data`` contract (divergence.alerts.payload), status fixed."""
    data = {k: v for k, v in ALERT_DATA_SCHEMA.items() if k not in ("$schema", "$id", "title")}
    properties = {**data["properties"], "status": {"const": status}}
    return _envelope(event_type, {**data, "properties": properties}, f"Alerts now {status!r}.")


def _test_schema() -> dict[str, Any]:
    data = {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}, "endpoint_id": {"type": "string"}},
        "additionalProperties": False,
    }
    return _envelope("webhook.test", data, "A test message sent on request.")


EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    **{t: _alert_schema(t, status) for t, status in STATUS_OF.items()},
    "webhook.test": _test_schema(),
}


def iso_ns(ts_ns: int) -> str:
    """Epoch ns -> ``2025-10-10T14:30:00.123456789Z``."""
    seconds, fraction = divmod(ts_ns, NS_PER_SECOND)
    whole = datetime_from_ns(seconds * NS_PER_SECOND).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{fraction:09d}Z"


def schema_for(event_type: str) -> dict[str, Any]:
    schema = EVENT_SCHEMAS.get(event_type)
    if schema is None:
        known = ", ".join(sorted(EVENT_SCHEMAS))
        raise PayloadError(f"event_type: unknown {event_type!r} (known: {known})")
    return schema


def render_body(
    event_type: str, data: Mapping[str, Any], *, occurred_at_ns: int, max_bytes: int
) -> bytes:
    """The exact bytes sent for this event, checked against its schema and size limit."""
    envelope = {
        "type": event_type,
        "version": SCHEMA_VERSION,
        "timestamp": iso_ns(occurred_at_ns),
        "data": dict(data),
    }
    try:
        body = orjson.dumps(envelope)
        parsed = orjson.loads(body)  # what a receiver sees (e.g. datetimes as strings)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise PayloadError(f"{event_type}: data is not JSON-serialisable: {exc}") from exc
    problems = check(schema_for(event_type), parsed)
    if problems:
        raise PayloadError(f"{event_type}: " + "; ".join(problems))
    if len(body) > max_bytes:
        raise PayloadError(f"{event_type}: body is {len(body)} bytes, over max {max_bytes}")
    return body


def labels_of(data: Mapping[str, Any]) -> dict[str, str]:
    """The labels endpoint filters match: ``data.labels`` if the event has them; for an
    alert notification, the labels all its alerts share, overlaid with the group's
    labels (Alertmanager's ``commonLabels``)."""
    if isinstance(data.get("labels"), Mapping):
        return {str(k): str(v) for k, v in data["labels"].items()}
    alerts = data.get("alerts")
    common: dict[str, str] = {}
    if isinstance(alerts, list) and alerts and all(isinstance(a, Mapping) for a in alerts):
        sets = [set(_string_map(a.get("labels")).items()) for a in alerts]
        common = dict(set.intersection(*sets))
    group = data.get("group")
    return common | (_string_map(group.get("labels")) if isinstance(group, Mapping) else {})


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}
