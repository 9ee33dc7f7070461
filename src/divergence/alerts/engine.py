"""One step of the alert engine, and a small stateful wrapper for the service (pure core).

:func:`run_step` takes the previous :class:`~divergence.alerts.model.EngineState`, the
rule tables' rows, the active silences and an injected clock ``now_ns`` (epoch ns, the
data watermark: every input row with time ``<= now_ns`` is known), and returns the next
state, the notifications to enqueue, the audit records to append and the episodes that
ended. Nothing here reads a clock, sleeps, logs a secret or touches DuckDB. In order:

1. every enabled rule's status at ``now_ns`` (:func:`compute_rule_status`, all rules
   collected together);
2. each rule's alerts advance (:mod:`.lifecycle`); alerts of removed or disabled rules
   resolve;
3. inhibition and annotation (:mod:`.inhibition`), silences and calendar mutes
   (:mod:`.silences`), with an audit record for every change of each;
4. the groups flush (:mod:`.grouping`).

LIVE = BACKFILL: step at the same instants (e.g. every second of watermark time) with,
per table, the rows in :meth:`AlertEngine.input_windows` (or more: each rule reads only
its own window), and a backfill reproduces the live notifications, ids included.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import polars as pl

from divergence.alerts.cases import acknowledge, add_note, assign
from divergence.alerts.conditions import compute_rule_status
from divergence.alerts.evidence import EvidenceSpec, evidence_spec
from divergence.alerts.grouping import flush_groups
from divergence.alerts.inhibition import apply_inhibition
from divergence.alerts.lifecycle import advance_rule, resolve_orphans, statuses_from_frame
from divergence.alerts.model import Alert, AuditRecord, EngineState, Notification, audit
from divergence.alerts.rules import Rule, RuleSet
from divergence.alerts.silences import Silence, apply_silences
from divergence.errors import BadRequestError, ConfigError, NotFoundError
from divergence.sessions import MarketCalendar, default_calendar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """What one step produced; persist ``state`` and the rest in one transaction."""

    state: EngineState
    notifications: tuple[Notification, ...]
    audit: tuple[AuditRecord, ...]
    ended: tuple[Alert, ...]


def run_step(
    state: EngineState,
    inputs: Mapping[str, pl.LazyFrame],
    *,
    rules: RuleSet,
    now_ns: int,
    silences: Sequence[Silence] = (),
    calendar: MarketCalendar | None = None,
) -> StepResult:
    """Advance every alert to ``now_ns``; see the module docstring."""
    if state.now_ns is not None and now_ns < state.now_ns:
        raise BadRequestError(f"now_ns={now_ns} is before the previous step ({state.now_ns})")
    calendar = calendar or default_calendar()
    active = rules.active
    missing = sorted({r.table for r in active} - set(inputs))
    if missing:
        raise ConfigError(
            f"no input frame for table(s) {', '.join(missing)} (disable their rules or wire"
            " them: RuleSet.restricted_to)",
            key="inputs",
            source="alert engine",
        )
    statuses = pl.collect_all(
        [compute_rule_status(inputs[r.table], r, now_ns=now_ns, calendar=calendar) for r in active]
    )
    alerts, ended, records = _advance(state, active, statuses, now_ns)
    alerts = apply_inhibition(alerts, inhibit=rules.inhibit, annotate=rules.annotate)
    rule_map = {r.id: r for r in active}
    alerts = apply_silences(
        alerts, silences=silences, rules=rule_map, now_ns=now_ns, calendar=calendar
    )
    records += suppression_audit(state.alerts, alerts, now_ns)
    flushed = flush_groups(state.groups, alerts, ended, rules=rules, now_ns=now_ns)
    records += flushed.audit
    return StepResult(
        state=EngineState(alerts=alerts, groups=flushed.groups, now_ns=now_ns),
        notifications=tuple(flushed.notifications),
        audit=tuple(records),
        ended=tuple(ended),
    )


def _advance(
    state: EngineState, active: Sequence[Rule], statuses: Sequence[pl.DataFrame], now_ns: int
) -> tuple[dict[str, Alert], list[Alert], list[AuditRecord]]:
    """Every rule's alerts after the step, the ended episodes and the audit records."""
    by_rule: dict[str, dict[str, Alert]] = {}
    for fp, alert in state.alerts.items():
        by_rule.setdefault(alert.rule_id, {})[fp] = alert
    alerts: dict[str, Alert] = {}
    ended: list[Alert] = []
    records: list[AuditRecord] = []
    for rule, frame in zip(active, statuses, strict=True):
        outcome = advance_rule(
            rule, by_rule.pop(rule.id, {}), statuses_from_frame(rule, frame), now_ns=now_ns
        )
        alerts.update(outcome.alerts)
        ended += outcome.ended
        records += outcome.audit
    orphans = [a for rule_alerts in by_rule.values() for a in rule_alerts.values()]
    gone = resolve_orphans(orphans, now_ns=now_ns, reason="rule removed or disabled")
    return alerts, ended + gone.ended, records + gone.audit


_FLAGS = (
    ("inhibited_by", "inhibited", "uninhibited"),
    ("silenced_by", "silenced", "unsilenced"),
    ("muted", "muted", "unmuted"),
    ("explained_by", "annotated", "unannotated"),
)


def suppression_audit(
    before: Mapping[str, Alert], after: Mapping[str, Alert], now_ns: int
) -> list[AuditRecord]:
    """An audit record per change of inhibition, silence, mute or annotation."""
    records: list[AuditRecord] = []
    for fp in sorted(after):
        alert = after[fp]
        prev = before.get(fp)
        if prev is None or prev.active_at != alert.active_at:
            prev = replace(alert, inhibited_by=(), silenced_by=(), muted=False, explained_by=())
        for name, on, off in _FLAGS:
            old, new = getattr(prev, name), getattr(alert, name)
            if old == new:
                continue
            action = on if new else off
            if name == "muted":
                records.append(audit(alert, action, now_ns))
            else:
                records.append(audit(alert, action, now_ns, by=list(new or old)))
    return records


class AlertEngine:
    """The engine with its state held between steps (the service's handle on it).

    ``now_ns`` is always passed in: the service steps it with the data watermark, tests
    with a simulated timeline.
    """

    def __init__(
        self,
        rules: RuleSet,
        *,
        calendar: MarketCalendar | None = None,
        state: EngineState | None = None,
    ) -> None:
        self.rules = rules
        self.calendar = calendar
        self.state = state or EngineState()

    def input_windows(self, now_ns: int) -> dict[str, tuple[int, int]]:
        """Per input table, the rows a step at ``now_ns`` reads: time in ``(start, end]``
        (interval tables: rows whose interval overlaps it)."""
        return {table: (now_ns - span, now_ns) for table, span in self.rules.lookback_ns().items()}

    def step(
        self,
        inputs: Mapping[str, pl.LazyFrame],
        *,
        now_ns: int,
        silences: Sequence[Silence] = (),
    ) -> StepResult:
        result = run_step(
            self.state,
            inputs,
            rules=self.rules,
            now_ns=now_ns,
            silences=silences,
            calendar=self.calendar,
        )
        self.state = result.state
        if result.notifications:
            log.debug("alert step", extra={"now_ns": now_ns, "sent": len(result.notifications)})
        return result

    def acknowledge(self, fp: str, *, actor: str, now_ns: int, note: str = "") -> AuditRecord:
        self.state, record = acknowledge(self.state, fp, actor=actor, now_ns=now_ns, note=note)
        return record

    def assign(self, fp: str, *, actor: str, assignee: str, now_ns: int) -> AuditRecord:
        self.state, record = assign(self.state, fp, actor=actor, assignee=assignee, now_ns=now_ns)
        return record

    def add_note(self, fp: str, *, actor: str, text: str, now_ns: int) -> AuditRecord:
        self.state, record = add_note(self.state, fp, actor=actor, text=text, now_ns=now_ns)
        return record

    def evidence(self, fp: str, *, now_ns: int) -> EvidenceSpec:
        """The evidence bundle spec of an active alert (ended ones: the store keeps them)."""
        alert = self.state.alerts.get(fp)
        rule = None if alert is None else self.rules.rule(alert.rule_id)
        if alert is None or rule is None:
            raise NotFoundError(f"no active alert with fingerprint {fp!r}")
        return evidence_spec(alert, rule, now_ns=now_ns)
