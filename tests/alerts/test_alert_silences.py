"""Silences and market-calendar mutes; one resolved notice even when silenced."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from alert_frames import T0, S, at, rules_of, run, sent, summary, table_frame
from pydantic import ValidationError

from divergence.alerts.engine import AlertEngine
from divergence.alerts.matchers import Matcher
from divergence.alerts.silences import Silence, calendar_conditions
from divergence.clock import ns_from_datetime
from divergence.sessions import ET, default_calendar

FAST = {"fast": {"by": ["rule"], "wait_s": 0, "interval_s": 1, "repeat_s": 86_400}}
GAPS: dict[str, Any] = {
    "id": "gaps",
    "metric": "feed_events.event",
    "group": "fast",
    "condition": {"op": "in", "values": ["gap"], "hold_s": 10, "for_s": 15},
}
SCOPE = "gaps:stream=book:X,venue=kraken"


def _gaps(start: float, stop: float, step: float = 5.0) -> dict[str, Any]:
    """A gap event every ``step`` s in ``[start, stop)``: met from ``start`` until the
    last event + 10 s."""
    times = [start + k * step for k in range(int((stop - start) / step))]
    rows = [{"ts": at(t), "venue": "kraken", "stream": "book:X", "event": "gap"} for t in times]
    return {"feed_events": table_frame("feed_events", rows)}


def _silence(start: float, end: float, **labels: str) -> Silence:
    return Silence(
        id=f"s{int(start)}",
        matchers=tuple(Matcher(name=k, value=v) for k, v in labels.items()),
        starts_at=at(start),
        ends_at=at(end),
        created_by="analyst",
    )


def _run(inputs: dict[str, Any], end: int, silences: list[Silence], rule: dict[str, Any] = GAPS):
    engine = AlertEngine(rules_of(rule, groups=FAST))
    return engine, run(engine, inputs, [at(s) for s in range(end)], silences=silences)


def test_silences_silenced_from_the_start_is_never_notified() -> None:
    # gaps from 0 s to 35 s: firing 15 s (for 15 s) to 45 s (last gap 35 s + hold 10 s).
    _, results = _run(_gaps(0, 40), 60, [_silence(0, 1000, venue="kraken")])
    assert sent(results) == []
    actions = [((a.ts - T0) // S, a.action) for r in results for a in r.audit]
    assert actions == [(0, "pending"), (0, "silenced"), (15, "firing"), (45, "resolved")]


def test_silences_notified_then_silenced_still_resolves_exactly_once() -> None:
    _, results = _run(_gaps(0, 40), 100, [_silence(20, 1000, venue="kraken")])
    # notified at 15 s, silenced from 20 s, resolved at 45 s inside the silence.
    assert summary(sent(results)) == [
        ("alert.firing", 15, [SCOPE]),
        ("alert.resolved", 45, [SCOPE]),
    ]


def test_silences_expiry_notifies_an_alert_never_notified() -> None:
    _, results = _run(_gaps(0, 60), 60, [_silence(0, 30, venue="kraken")])
    # firing since 15 s but silenced until 30 s: the firing notice goes out at 30 s.
    assert summary(sent(results)) == [("alert.firing", 30, [SCOPE])]


def test_silences_expiry_does_not_resend_a_notified_alert() -> None:
    _, results = _run(_gaps(0, 60), 60, [_silence(20, 30, venue="kraken")])
    assert summary(sent(results)) == [("alert.firing", 15, [SCOPE])]


def test_silences_matchers_must_all_match() -> None:
    _, results = _run(_gaps(0, 40), 30, [_silence(0, 1000, venue="kraken", stream="book:Y")])
    assert summary(sent(results)) == [("alert.firing", 15, [SCOPE])]


SATURDAY_NOON = ns_from_datetime(datetime(2025, 10, 11, 12, tzinfo=ET))


def test_silences_weekend_mute_per_rule() -> None:
    rule = GAPS | {"mute": ["weekend"]}
    rows = [
        {"ts": SATURDAY_NOON + k * 5 * S, "venue": "kraken", "stream": "book:X", "event": "gap"}
        for k in range(8)
    ]
    engine = AlertEngine(rules_of(rule, groups=FAST))
    steps = [SATURDAY_NOON + s * S for s in range(60)]
    results = run(engine, {"feed_events": table_frame("feed_events", rows)}, steps)
    # the same gaps fire at 15 s and resolve at 45 s, muted all along: no notice.
    assert sent(results) == []
    assert [a.action for r in results for a in r.audit] == [
        "pending",
        "muted",
        "firing",
        "resolved",
    ]
    # on the Friday the same rule notifies.
    _, friday = _run(_gaps(0, 40), 60, [], rule)
    assert summary(sent(friday)) == [("alert.firing", 15, [SCOPE]), ("alert.resolved", 45, [SCOPE])]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2025, 10, 10, 10, tzinfo=ET), {"regular"}),
        (datetime(2025, 10, 10, 21, tzinfo=ET), {"closed"}),
        (datetime(2025, 10, 11, 12, tzinfo=ET), {"closed", "weekend"}),
        (datetime(2025, 10, 12, 21, tzinfo=ET), {"overnight", "weekend"}),
        (datetime(2025, 11, 27, 12, tzinfo=ET), {"closed", "holiday"}),
    ],
)
def test_silences_calendar_conditions(when: datetime, expected: set[str]) -> None:
    assert calendar_conditions(ns_from_datetime(when), default_calendar()) == expected


def test_silences_validation() -> None:
    with pytest.raises(ValidationError, match="must be after starts_at"):
        Silence(id="x", matchers=(Matcher(name="a", value="b"),), starts_at=2, ends_at=1,
                created_by="me")  # fmt: skip
    with pytest.raises(ValidationError, match="at least 1 item"):
        Silence(id="x", matchers=(), starts_at=1, ends_at=2, created_by="me")
    with pytest.raises(ValidationError, match="regular expression"):
        Matcher(name="venue", op="=~", value="(")
    silence = _silence(0, 10, venue="kraken")
    assert (silence.active(at(0)), silence.active(at(10))) == (True, False)
