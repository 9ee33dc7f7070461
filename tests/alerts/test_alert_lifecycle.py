"""Lifecycle on a simulated timeline: pending, firing, stale-data, resolved (no sleeps)."""

from __future__ import annotations

from typing import Any

from alert_frames import T0, S, at, basis_row, rules_of, run, sent, table_frame

from divergence.alerts.engine import AlertEngine, StepResult
from divergence.alerts.model import fingerprint

FAST = {"fast": {"by": ["rule"], "wait_s": 0, "interval_s": 1, "repeat_s": 86_400}}
EXEC: dict[str, Any] = {
    "id": "exec",
    "metric": "basis.exec_basis_bps",
    "reference": ["live"],
    "group": "fast",
    "condition": {"op": ">", "threshold": 50.0, "abs": True, "for_s": 15},
}
FP = fingerprint(
    "exec",
    {"underlying": "AAPL", "venue": "simx-a", "instrument_id": "AAPLx@simx-a",
     "quote_currency": "USD"},
)  # fmt: skip


def _engine(rule: dict[str, Any] = EXEC) -> AlertEngine:
    return AlertEngine(rules_of(rule, groups=FAST))


def _actions(results: list[StepResult]) -> list[tuple[int, str]]:
    return [
        ((a.ts - T0) // S, a.action) for r in results for a in r.audit if a.action != "notified"
    ]


def _basis(values: dict[int, float | None]) -> dict[str, Any]:
    return {"basis": table_frame("basis", [basis_row(at(s), v) for s, v in values.items()])}


def test_lifecycle_pending_then_firing_at_the_due_time() -> None:
    engine = _engine()
    # 10 bps until 9 s, 80 bps from 10 s: pending at 10 s, due at 10 + 15 = 25 s.
    inputs = _basis({s: 80.0 if s >= 10 else 10.0 for s in range(60)})
    results = run(engine, inputs, [at(s) for s in range(0, 31, 5)])
    states = [(r.state.alerts[FP].state if FP in r.state.alerts else None) for r in results]
    assert states == [None, None, "pending", "pending", "pending", "firing", "firing"]
    alert = engine.state.alerts[FP]
    assert (alert.active_at, alert.fired_at, alert.value) == (at(10), at(25), 80.0)
    assert _actions(results) == [(10, "pending"), (25, "firing")]
    assert [(n.type, (n.timestamp - T0) // S) for n in sent(results)] == [("alert.firing", 25)]


def test_lifecycle_fired_at_is_data_time_whatever_the_step() -> None:
    engine = _engine()
    inputs = _basis({s: 80.0 if s >= 10 else 10.0 for s in range(60)})
    # steps every 7 s: 21 s is before the due time (25 s), 28 s after it.
    run(engine, inputs, [at(s) for s in range(0, 30, 7)])
    assert engine.state.alerts[FP].fired_at == at(25)


def test_lifecycle_pending_condition_that_goes_away_leaves_nothing() -> None:
    engine = _engine()
    inputs = _basis({s: 80.0 if 10 <= s < 20 else 10.0 for s in range(60)})
    results = run(engine, inputs, [at(s) for s in range(0, 40)])
    assert _actions(results) == [(10, "pending"), (20, "cleared")]
    assert engine.state.alerts == {}
    assert sent(results) == []


def test_lifecycle_resolves_once_at_the_first_row_back_in_band() -> None:
    engine = _engine()
    inputs = _basis({s: -90.0 if 0 <= s < 30 else 5.0 for s in range(60)})
    results = run(engine, inputs, [at(s) for s in range(0, 60)])
    assert _actions(results) == [(0, "pending"), (15, "firing"), (30, "resolved")]
    ended = [a for r in results for a in r.ended]
    assert [(a.fired_at, a.ends_at, a.state) for a in ended] == [(at(15), at(30), "resolved")]
    notes = sent(results)
    assert [(n.type, (n.timestamp - T0) // S) for n in notes] == [
        ("alert.firing", 15),
        ("alert.resolved", 30),
    ]
    resolved = notes[1].data["alerts"][0]
    assert (resolved["starts_at"], resolved["ends_at"]) == (
        "2025-10-10T19:56:15.000000000Z",
        "2025-10-10T19:56:30.000000000Z",
    )
    assert notes[0].id != notes[1].id


def test_lifecycle_stale_data_then_back_keeps_the_episode() -> None:
    engine = _engine()
    # met from 0 s; no rows from 41 s to 99 s; met again from 100 s.
    inputs = _basis({s: 80.0 for s in (*range(0, 41), *range(100, 121))})
    results = run(engine, inputs, [at(s) for s in range(0, 121)])
    # 40 s is the last row: older than 30 s after 70 s, so stale-data at 71 s, dated 70 s.
    assert _actions(results) == [
        (0, "pending"),
        (15, "firing"),
        (71, "stale_data"),
        (100, "firing"),
    ]
    stale = results[71].state.alerts[FP]
    assert (stale.state, stale.stale_since, stale.fired_at) == ("stale-data", at(70), at(15))
    back = engine.state.alerts[FP]
    assert (back.state, back.fired_at, back.active_at) == ("firing", at(15), at(0))
    notes = sent(results)
    assert [(n.type, (n.timestamp - T0) // S) for n in notes] == [
        ("alert.firing", 15),
        ("alert.stale_data", 71),
        ("alert.firing", 100),
    ]
    assert len({n.id for n in notes}) == 3


def test_lifecycle_no_data_while_pending_is_not_notified() -> None:
    engine = _engine(EXEC | {"condition": EXEC["condition"] | {"for_s": 45}})
    inputs = _basis({s: 80.0 for s in range(0, 5)})
    results = run(engine, inputs, [at(s) for s in range(0, 60)])
    # a sample holds until it is 30 s old: the last row (4 s) met, so the alert is pending
    # from 0 s, and stale-data at 35 s (4 + 30 < 35) before it is due (45 s): no notice.
    assert _actions(results) == [(0, "pending"), (35, "stale_data")]
    assert engine.state.alerts[FP].fired_at is None
    assert sent(results) == []


def test_lifecycle_hold_rule_without_events_resolves() -> None:
    rule = {
        "id": "gaps",
        "metric": "feed_events.event",
        "group": "fast",
        "condition": {"op": "in", "values": ["gap"], "hold_s": 20},
    }
    engine = _engine(rule)
    rows = [{"ts": at(s), "venue": "kraken", "stream": "book:X", "event": "gap"} for s in (0, 10)]
    results = run(engine, {"feed_events": table_frame("feed_events", rows)},
                  [at(s) for s in range(0, 40)])  # fmt: skip
    # gaps at 0 s and 10 s keep it firing until 10 + 20 = 30 s; then no row: resolved.
    assert _actions(results) == [(0, "firing"), (30, "resolved")]
    assert [a.ends_at for r in results for a in r.ended] == [at(30)]
