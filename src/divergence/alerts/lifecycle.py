"""Move one rule's alerts through pending, firing, stale-data and resolved (pure).

The state diagram (docs/alerts.md, "Lifecycle")::

    (none) --met, not yet due--> pending --due--> firing --not met--> resolved
    (none) --met and due-------------------------> firing
    pending --not met--> (none)                      firing --no data--> stale-data
    pending --no data--> stale-data                  stale-data --met--> firing (if it fired)
    stale-data --not met--> resolved (if it fired), else (none)

"due" is the status's ``due_at`` (``since + for_s``, and the ``for_samples``-th row) at
or before ``now``; ``fired_at`` is that data time, not the step's clock, so a backfill
stepped at any cadence dates a firing the same way. A scope with no status row counts as
``no_data`` for sample rules and as ``not_met`` for hold and interval rules (no event is
no problem). An alert that fired and lost its data keeps its episode: when the data
comes back met it fires again with the same ``fired_at`` (no new pending period).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from divergence.alerts.model import Alert, AuditRecord, audit, fingerprint
from divergence.alerts.rules import Rule

_TIMES = ("last_ts", "since", "due_at", "cleared_at")


@dataclass(frozen=True)
class Status:
    """One scope's status at ``now`` (a row of :func:`compute_rule_status`, ints in ns)."""

    scope: Mapping[str, str]
    state: str
    value: float | None = None
    value_text: str | None = None
    threshold: float | None = None
    session: str | None = None
    last_ts: int | None = None
    since: int | None = None
    due_at: int | None = None
    cleared_at: int | None = None


@dataclass(frozen=True)
class RuleOutcome:
    """A rule's alerts after a step, the episodes that ended, and the audit rows."""

    alerts: dict[str, Alert]
    ended: list[Alert]
    audit: list[AuditRecord]


def statuses_from_frame(rule: Rule, frame: pl.DataFrame) -> dict[str, Status]:
    """Status rows (``rule_status_schema(rule)``) by alert fingerprint."""
    out: dict[str, Status] = {}
    as_ns = frame.with_columns(pl.col(_TIMES).cast(pl.Int64))
    for row in as_ns.iter_rows(named=True):
        scope = {name: row[name] for name in rule.scope_labels}
        times = {k: row[k] for k in _TIMES}
        out[fingerprint(rule.id, scope)] = Status(
            scope=scope,
            state=row["state"],
            value=row["value"],
            value_text=row["value_text"],
            threshold=row["threshold"],
            session=row["session"],
            **times,
        )
    return out


def advance_rule(
    rule: Rule, alerts: Mapping[str, Alert], statuses: Mapping[str, Status], *, now_ns: int
) -> RuleOutcome:
    """Apply one step's statuses to the rule's alerts (keyed by fingerprint)."""
    outcome = RuleOutcome(alerts={}, ended=[], audit=[])
    for fp in sorted(set(alerts) | set(statuses)):
        existing = alerts.get(fp)
        status = statuses.get(fp) or _absent(rule, existing, now_ns)
        if status is None:
            continue
        alert = _step(rule, fp, existing, status, now_ns, outcome)
        if alert is not None:
            outcome.alerts[fp] = alert
    return outcome


def resolve_orphans(alerts: Iterable[Alert], *, now_ns: int, reason: str) -> RuleOutcome:
    """End alerts whose rule is gone (removed or disabled): fired ones resolve now."""
    outcome = RuleOutcome(alerts={}, ended=[], audit=[])
    for alert in alerts:
        if alert.fired_at is None:
            outcome.audit.append(audit(alert, "cleared", now_ns, reason=reason))
            continue
        ended = replace(alert, state="resolved", ends_at=now_ns, updated_at=now_ns)
        outcome.ended.append(ended)
        outcome.audit.append(audit(ended, "resolved", now_ns, reason=reason))
    return outcome


def _absent(rule: Rule, existing: Alert | None, now_ns: int) -> Status | None:
    if existing is None:
        return None
    sample = rule.source.kind == "sample" and rule.condition.hold_s is None
    return Status(scope=existing.scope, state="no_data" if sample else "not_met")


def _step(
    rule: Rule, fp: str, existing: Alert | None, st: Status, now: int, out: RuleOutcome
) -> Alert | None:
    if st.state == "met":
        return _on_met(rule, fp, existing, st, now, out)
    if existing is None:
        return None
    if st.state == "no_data":
        if existing.state == "stale-data":
            return replace(existing, updated_at=now)
        stale = _stale_since(rule, existing, st, now)
        alert = replace(existing, state="stale-data", stale_since=stale, updated_at=now)
        out.audit.append(audit(alert, "stale_data", now, since=stale, last_ts=st.last_ts))
        return alert
    if existing.fired_at is None:
        out.audit.append(audit(existing, "cleared", now, cleared_at=st.cleared_at or now))
        return None
    ends = max(st.cleared_at or now, existing.fired_at)
    ended = replace(_refresh(rule, existing, st, now), state="resolved", ends_at=ends)
    out.ended.append(ended)
    out.audit.append(audit(ended, "resolved", now, ends_at=ends, value=ended.value))
    return None


def _on_met(
    rule: Rule, fp: str, existing: Alert | None, st: Status, now: int, out: RuleOutcome
) -> Alert:
    due = st.due_at is not None and st.due_at <= now
    if existing is None:
        since = st.since if st.since is not None else now
        labels = {"rule": rule.id, "severity": rule.severity, **rule.labels, **st.scope}
        base = Alert(
            fp, rule.id, labels, dict(st.scope), "pending", active_at=since, updated_at=now
        )
        alert = _refresh(rule, base, st, now)
        if not due:
            out.audit.append(audit(alert, "pending", now, since=since, value=alert.value))
            return alert
        return _fire(alert, st.due_at or now, now, out)
    alert = _refresh(rule, existing, st, now)
    if existing.state == "firing":
        return alert
    if existing.fired_at is not None:
        return _fire(alert, existing.fired_at, now, out)
    if due:
        return _fire(alert, st.due_at or now, now, out)
    if existing.state == "stale-data":
        alert = replace(alert, state="pending", stale_since=None)
        out.audit.append(audit(alert, "pending", now, since=st.since, value=alert.value))
    return alert


def _fire(alert: Alert, fired_at: int, now: int, out: RuleOutcome) -> Alert:
    fired = replace(alert, state="firing", fired_at=fired_at, stale_since=None)
    out.audit.append(audit(fired, "firing", now, fired_at=fired_at, value=fired.value))
    return fired


def _refresh(rule: Rule, alert: Alert, st: Status, now: int) -> Alert:
    fields: dict[str, Any] = {
        **alert.labels,
        "value": st.value if st.value is not None else st.value_text,
        "threshold": st.threshold,
        "session": st.session,
    }
    return replace(
        alert,
        value=st.value,
        value_text=st.value_text,
        threshold=st.threshold,
        session=st.session,
        last_ts=st.last_ts if st.last_ts is not None else alert.last_ts,
        updated_at=now,
        summary=render_summary(rule.summary, fields),
    )


def _stale_since(rule: Rule, alert: Alert, st: Status, now: int) -> int:
    last = st.last_ts if st.last_ts is not None else alert.last_ts
    limit = rule.no_data_after_ns
    if last is None or limit is None:
        return now
    return min(last + limit, now)


def render_summary(template: str, fields: Mapping[str, Any]) -> str:
    """``template`` with ``{name}`` / ``{name:spec}`` filled; a missing value is ``n/a``."""
    parts: list[str] = []
    for literal, name, spec, _ in string.Formatter().parse(template):
        parts.append(literal)
        if name is None:
            continue
        value = fields.get(name)
        try:
            parts.append("n/a" if value is None else format(value, spec or ""))
        except (TypeError, ValueError):
            parts.append(str(value))
    return "".join(parts)
