"""Notification groups: turn alert changes into notifications, Alertmanager-style (pure).

An alert belongs to the group ``<group name>:<label>=<value>,...`` of its rule's
``group`` policy and that policy's ``by`` labels. A group remembers what its receivers
were told (``notified``: per fingerprint, the firing start and state last sent) and owes
a resolved notice for every notified alert whose episode ended (``resolved``). At each
step, per group:

- **changes**: a firing, unsuppressed alert not yet notified as firing (new, back from
  stale-data, no longer suppressed, or with changed ``explained_by``); a notified
  alert that went stale-data (unsuppressed); an owed resolved notice;
- the group is created at its first change and flushes ``wait_s`` later; afterwards it
  flushes when it has changes and ``interval_s`` passed since the last flush;
- independently, its firing alerts are re-sent once ``repeat_s`` passed since the last
  firing notice (``repeat: true``);
- a flush sends at most one ``alert.firing`` (every firing, unsuppressed alert of the
  group), one ``alert.stale_data`` (the new stale ones) and one ``alert.resolved``
  (every owed resolution, **also when the alert is silenced, inhibited or muted now**),
  in that order;
- a group with nothing notified and nothing owed is dropped.

So each alert that was notified as firing gets exactly one resolved notice, and an
alert that fired and resolved inside ``wait_s``, or only while suppressed, gets none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from divergence.alerts.model import (
    Alert,
    AuditRecord,
    GroupState,
    Notification,
    NotificationType,
    NotifiedAlert,
    NotifiedState,
    audit,
    notification_id,
)
from divergence.alerts.payload import notification_data
from divergence.alerts.rules import GroupPolicy, RuleSet
from divergence.clock import NS_PER_SECOND


@dataclass
class FlushOutcome:
    groups: dict[str, GroupState] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)


def group_of(alert: Alert, rules: RuleSet) -> tuple[str, str, dict[str, str]]:
    """``(key, name, labels)`` of the group ``alert`` belongs to."""
    rule = rules.rule(alert.rule_id)
    name = rule.group if rule is not None else "default"
    policy = rules.group(name)
    labels = {label: alert.labels.get(label, "") for label in policy.by}
    key = name + ":" + ",".join(f"{k}={v}" for k, v in labels.items())
    return key, name, labels


def flush_groups(
    groups: Mapping[str, GroupState],
    alerts: Mapping[str, Alert],
    ended: Sequence[Alert],
    *,
    rules: RuleSet,
    now_ns: int,
) -> FlushOutcome:
    """One step of every group; see the module docstring."""
    members: dict[str, list[Alert]] = {}
    current = dict(groups)
    for alert in alerts.values():
        key, name, labels = group_of(alert, rules)
        members.setdefault(key, []).append(alert)
        if key not in current and _changes(alert, None):
            current[key] = GroupState(key=key, name=name, labels=labels, created_at=now_ns)
    current = _owe_resolved(current, ended)
    out = FlushOutcome()
    for key in sorted(current):
        group = _flush(
            current[key], members.get(key, []), rules.group(current[key].name), now_ns, alerts, out
        )
        if (
            group.notified
            or group.resolved
            or any(_changes(a, group) for a in members.get(key, []))
        ):
            out.groups[key] = group
    return out


def _changes(alert: Alert, group: GroupState | None) -> bool:
    told = None if group is None else group.notified.get(alert.fingerprint)
    if alert.state == "firing" and not alert.suppressed:
        return told != NotifiedAlert(alert.started_at, "firing", alert.explained_by)
    if alert.state == "stale-data" and not alert.suppressed and told is not None:
        return told.state == "firing" and told.fired_at == alert.started_at
    return False


def _owe_resolved(groups: dict[str, GroupState], ended: Sequence[Alert]) -> dict[str, GroupState]:
    """Queue a resolved notice in the group that notified each ended episode."""
    for alert in ended:
        for key, group in groups.items():
            told = group.notified.get(alert.fingerprint)
            if told is not None and told.fired_at == alert.fired_at:
                notified = {fp: n for fp, n in group.notified.items() if fp != alert.fingerprint}
                groups[key] = replace(group, notified=notified, resolved=(*group.resolved, alert))
    return groups


def _flush(
    group: GroupState,
    members: list[Alert],
    policy: GroupPolicy,
    now: int,
    alerts: Mapping[str, Alert],
    out: FlushOutcome,
) -> GroupState:
    firing = [a for a in members if a.state == "firing" and not a.suppressed]
    stale = [a for a in members if a.state == "stale-data" and _changes(a, group)]
    changed = group.resolved or stale or any(_changes(a, group) for a in firing)
    if group.last_flush_at is None:
        flush_due = now >= group.created_at + _ns(policy.wait_s)
    else:
        flush_due = now >= group.last_flush_at + _ns(policy.interval_s)
    last = group.last_firing_at
    repeat = bool(firing) and last is not None and now >= last + _ns(policy.repeat_s)
    if not ((changed and flush_due) or repeat):
        return group
    batches: list[tuple[NotificationType, list[Alert]]] = [
        ("alert.firing", firing if (repeat or any(_changes(a, group) for a in firing)) else []),
        ("alert.stale_data", stale),
        ("alert.resolved", list(group.resolved)),
    ]
    notified = dict(group.notified)
    for kind, items in batches:
        if not items:
            continue
        group = _send(group, kind, items, now, repeat and kind == "alert.firing", alerts, out)
        if kind == "alert.resolved":
            continue
        state: NotifiedState = "firing" if kind == "alert.firing" else "stale-data"
        for a in items:
            notified[a.fingerprint] = NotifiedAlert(a.started_at, state, a.explained_by)
    last_firing = now if batches[0][1] else group.last_firing_at
    return replace(
        group, notified=notified, resolved=(), last_flush_at=now, last_firing_at=last_firing
    )


def _send(
    group: GroupState,
    kind: NotificationType,
    items: list[Alert],
    now: int,
    repeat: bool,
    alerts: Mapping[str, Alert],
    out: FlushOutcome,
) -> GroupState:
    msg_id = notification_id(kind, group.key, group.created_at, group.seq, items)
    data = notification_data(kind, group, items, seq=group.seq, repeat=repeat, others=alerts)
    out.notifications.append(Notification(msg_id, kind, now, group.key, data))
    for alert in items:
        out.audit.append(audit(alert, "notified", now, notification_id=msg_id, type=kind))
    return replace(group, seq=group.seq + 1)


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_SECOND)
