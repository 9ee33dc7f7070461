"""Silences (matchers with an expiry, set through the API) and market-calendar mutes.

A :class:`Silence` is active over ``[starts_at, ends_at)`` (epoch ns) and silences every
alert whose labels all its matchers match. A rule's ``mute`` lists calendar conditions
in which its alerts are muted: ``weekend`` (Saturday or Sunday in New York),
``holiday`` (a weekday the XNYS calendar does not trade) and the session names
(``pre``, ``regular``, ``post``, ``overnight``, ``closed``) of the XNYS calendar at
``now`` (:mod:`divergence.sessions`). Silenced and muted alerts are tracked and resolved
like any other, and a resolved notice still goes out for one that was notified as
firing before (docs/alerts.md, "Silences and mutes").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from divergence.alerts.matchers import Matcher, match_all
from divergence.alerts.model import Alert
from divergence.alerts.rules import Rule
from divergence.clock import NS_PER_SECOND
from divergence.sessions import ET, MarketCalendar


class Silence(BaseModel):
    """A silence: ``matchers`` (all must match), active ``[starts_at, ends_at)`` (ns)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=64)
    matchers: tuple[Matcher, ...] = Field(min_length=1)
    starts_at: int
    ends_at: int
    created_by: str = Field(min_length=1)
    comment: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError(f"ends_at ({self.ends_at}) must be after starts_at ({self.starts_at})")
        return self

    def active(self, now_ns: int) -> bool:
        return self.starts_at <= now_ns < self.ends_at


def calendar_conditions(now_ns: int, calendar: MarketCalendar) -> frozenset[str]:
    """The calendar mute names that hold at ``now_ns``: its session, and ``weekend`` or
    ``holiday`` when the New York date is one."""
    seconds, _ = divmod(now_ns, NS_PER_SECOND)
    local = datetime.fromtimestamp(seconds, tz=UTC).astimezone(ET)
    found: set[str] = {calendar.session_at(now_ns)}
    if local.weekday() >= 5:
        found.add("weekend")
    elif not calendar.is_trading_day(local.date()):
        found.add("holiday")
    return frozenset(found)


def apply_silences(
    alerts: Mapping[str, Alert],
    *,
    silences: Sequence[Silence],
    rules: Mapping[str, Rule],
    now_ns: int,
    calendar: MarketCalendar,
) -> dict[str, Alert]:
    """Every alert with ``silenced_by`` (active silence ids) and ``muted`` recomputed."""
    active = [s for s in silences if s.active(now_ns)]
    conditions: frozenset[str] | None = None
    out: dict[str, Alert] = {}
    for fp, alert in alerts.items():
        silenced_by = tuple(sorted(s.id for s in active if match_all(s.matchers, alert.labels)))
        rule = rules.get(alert.rule_id)
        muted = False
        if rule is not None and rule.mute:
            conditions = conditions or calendar_conditions(now_ns, calendar)
            muted = bool(conditions.intersection(rule.mute))
        out[fp] = replace(alert, silenced_by=silenced_by, muted=muted)
    return out
