"""The alert engine's data: alerts, groups, engine state, notifications, audit records.

Everything is a frozen dataclass of plain values (ints are epoch ns, UTC), so a state can
be compared, persisted and restored, and a step is a pure function of it.

- :class:`Alert`: one rule's condition for one scope, identified by its
  :func:`fingerprint` (rule id and scope labels), through one *episode*: from the first
  met row (``active_at``) through ``firing`` (``fired_at``, the episode's identity) to
  ``resolved`` (``ends_at``).
- :class:`GroupState`: what one notification group last told the receivers.
- :class:`Notification`: one message for the delivery side, with a stable ``id``.
- :class:`AuditRecord`: one row of the append-only audit log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AlertStatus = Literal["pending", "firing", "stale-data", "resolved"]
NotifiedState = Literal["firing", "stale-data"]
NotificationType = Literal["alert.firing", "alert.resolved", "alert.stale_data"]
Labels = Mapping[str, str]


def _digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(rule_id: str, scope: Labels) -> str:
    """16 hex digits of SHA-256 over the rule id and the scope labels (sorted)."""
    return _digest("alert", rule_id, sorted(scope.items()))[:16]


@dataclass(frozen=True)
class Alert:
    """One alert episode (see the module docstring)."""

    fingerprint: str
    rule_id: str
    labels: Labels
    scope: Labels
    state: AlertStatus
    active_at: int
    updated_at: int
    fired_at: int | None = None
    ends_at: int | None = None
    stale_since: int | None = None
    last_ts: int | None = None
    value: float | None = None
    value_text: str | None = None
    threshold: float | None = None
    session: str | None = None
    summary: str = ""
    explained_by: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()
    inhibited_by: tuple[str, ...] = ()
    silenced_by: tuple[str, ...] = ()
    muted: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    assignee: str | None = None

    @property
    def suppressed(self) -> bool:
        """Inhibited, silenced or muted: not notified (still tracked and resolved once)."""
        return bool(self.inhibited_by or self.silenced_by or self.muted)

    @property
    def episode(self) -> int:
        """The episode's identity in the audit log: when its condition was first met."""
        return self.active_at

    @property
    def started_at(self) -> int:
        """The firing's start (``fired_at``), or ``active_at`` while it never fired."""
        return self.active_at if self.fired_at is None else self.fired_at


@dataclass(frozen=True)
class NotifiedAlert:
    """What receivers were last told about one alert of a group."""

    fired_at: int
    state: NotifiedState
    explained_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupState:
    """One notification group: ``key`` = group name and its ``by`` label values."""

    key: str
    name: str
    labels: Labels
    created_at: int
    seq: int = 0
    last_flush_at: int | None = None
    last_firing_at: int | None = None
    notified: Mapping[str, NotifiedAlert] = field(default_factory=dict)
    resolved: tuple[Alert, ...] = ()


@dataclass(frozen=True)
class EngineState:
    """Everything a step needs from the previous one."""

    alerts: Mapping[str, Alert] = field(default_factory=dict)
    groups: Mapping[str, GroupState] = field(default_factory=dict)
    now_ns: int | None = None


@dataclass(frozen=True)
class Notification:
    """One message for the delivery side to enqueue and sign.

    ``id`` is the Standard Webhooks ``webhook-id``: :func:`notification_id` of the type,
    the group, the group's message count and every reported alert's fingerprint and
    firing start. It is the same whenever the same step is computed from the same state,
    and differs between the firing and the resolved notice of one alert. ``data`` is the
    payload's ``data`` member (JSON-ready; docs/alerts.md "Notification payload").
    """

    id: str
    type: NotificationType
    timestamp: int
    group_key: str
    data: Mapping[str, Any]


def notification_id(
    kind: NotificationType, group_key: str, group_created_at: int, seq: int, items: list[Alert]
) -> str:
    """``msg_`` + 32 hex digits of SHA-256 over the notice's identity (see Notification)."""
    alerts = sorted((a.fingerprint, a.started_at) for a in items)
    return "msg_" + _digest(kind, group_key, group_created_at, seq, alerts)[:32]


@dataclass(frozen=True)
class AuditRecord:
    """One append-only audit row: an engine transition or an analyst's action.

    ``action``: ``pending``, ``firing``, ``stale_data``, ``resolved``, ``cleared`` (a
    pending alert whose condition went away), ``inhibited``/``uninhibited``,
    ``silenced``/``unsilenced``, ``muted``/``unmuted``, ``annotated``, ``notified``,
    ``acknowledged``, ``assigned``, ``note``. ``episode`` is the alert's
    :attr:`Alert.episode`. ``id`` is stable: the same change gives the same id.
    """

    ts: int
    fingerprint: str
    episode: int
    rule_id: str
    action: str
    actor: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        parts = (self.ts, self.fingerprint, self.episode, self.action, self.actor, self.detail)
        return "aud_" + _digest(*parts)[:32]


def audit(
    alert: Alert, action: str, ts: int, *, actor: str = "engine", **detail: Any
) -> AuditRecord:
    """An audit record about ``alert``."""
    return AuditRecord(
        ts=ts,
        fingerprint=alert.fingerprint,
        episode=alert.episode,
        rule_id=alert.rule_id,
        action=action,
        actor=actor,
        detail=detail,
    )
