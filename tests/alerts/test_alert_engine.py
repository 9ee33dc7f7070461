"""The whole engine: the demo's 80 bps episode, live = backfill, restarts, wiring errors."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from alert_frames import S, at, basis_row, rules_of, run, sent, summary, table_frame

from divergence.alerts.engine import AlertEngine, run_step
from divergence.alerts.model import EngineState
from divergence.alerts.rules import load_default_rules
from divergence.alerts.sources import SOURCES
from divergence.errors import BadRequestError, ConfigError

VENUES = {"simx-a": 71.0, "simx-b": 68.5, "simx-c": 74.0}
"""Executable basis of each AAPLx listing while the mid is 80 bps rich (net of fees)."""


def _episode(end: int) -> dict[str, pl.LazyFrame]:
    """The sim's first episode: every AAPLx listing rich from 20 s to 65 s (15:56:20 to
    15:57:05 ET), 2 bps otherwise, one row per listing per second."""
    rows = [
        basis_row(at(s), rich if 20 <= s < 65 else 2.0, venue=venue)
        for s in range(end)
        for venue, rich in VENUES.items()
    ]
    return {"basis": table_frame("basis", rows)}


def _scopes() -> list[str]:
    return [
        f"basis_exec_live:instrument_id=AAPLx@{v},quote_currency=USD,underlying=AAPL,venue={v}"
        for v in sorted(VENUES)
    ]


def test_engine_80_bps_episode_gives_one_firing_and_one_resolved() -> None:
    engine = AlertEngine(load_default_rules().restricted_to({"basis"}))
    results = run(engine, _episode(200), [at(s) for s in range(200)])
    notes = sent(results)
    # pending 20 s, firing 20 + 15 = 35 s, first flush 35 + 10 = 45 s; back in band at
    # 65 s, the basis group's next flush 45 + 60 = 105 s.
    assert summary(notes) == [("alert.firing", 45, _scopes()), ("alert.resolved", 105, _scopes())]
    firing, resolved = notes
    assert firing.id != resolved.id
    assert [a["starts_at"] for a in resolved.data["alerts"]] == [
        "2025-10-10T19:56:35.000000000Z"
    ] * 3
    assert [a["ends_at"] for a in resolved.data["alerts"]] == ["2025-10-10T19:57:05.000000000Z"] * 3
    assert sorted(a["summary"] for a in firing.data["alerts"]) == [
        f"AAPL on {v}: executable basis +{VENUES[v]:.1f} bps (limit 50 bps, regular)"
        for v in sorted(VENUES)
    ]
    assert engine.state.alerts == {} and engine.state.groups == {}


def _windowed(inputs: dict[str, pl.LazyFrame], windows: dict[str, tuple[int, int]]):
    out = {}
    for table, frame in inputs.items():
        start, end = windows[table]
        spec = SOURCES[table]
        ts = pl.col(spec.time_column).cast(pl.Int64)
        if spec.end_column is None:
            out[table] = frame.filter((ts > start) & (ts <= end))
        else:
            stop = pl.col(spec.end_column).cast(pl.Int64)
            out[table] = frame.filter((ts <= end) & (stop.is_null() | (stop > start)))
    return out


def _mixed(end: int) -> dict[str, pl.LazyFrame]:
    rows = []
    for s in range(end):
        stale = 100 <= s < 160
        rows += [
            basis_row(at(s), None if stale else (90.0 if 20 <= s < 80 else 3.0), venue=v,
                      ref_state="stale" if stale else "live")
            for v in ("simx-a", "simx-b")
        ]  # fmt: skip
    events = [
        {"ts": at(t), "venue": "simx-b", "stream": "book:AAPLx/USD", "event": e}
        for t, e in ((30, "stale"), (70, "fresh"), (90, "gap"), (95, "gap"), (200, "gap"))
    ]
    return {"basis": table_frame("basis", rows), "feed_events": table_frame("feed_events", events)}


@pytest.mark.slow
def test_engine_windowed_inputs_give_the_same_steps_as_full_history() -> None:
    rules = load_default_rules().restricted_to({"basis", "feed_events"})
    inputs = _mixed(260)
    full, windowed = AlertEngine(rules), AlertEngine(rules)
    notes = []
    for s in range(0, 260, 2):
        a = full.step(inputs, now_ns=at(s))
        b = windowed.step(_windowed(inputs, windowed.input_windows(at(s))), now_ns=at(s))
        assert (a.notifications, a.audit, a.ended, a.state) == (
            b.notifications,
            b.audit,
            b.ended,
            b.state,
        )
        notes += a.notifications
    # simx-b's stream is stale 30-70 s: feed_stale fires at 30 s (feeds group per venue,
    # notified 40 s) and inhibits simx-b's basis alert, which fires at 35 s (pending 20 s
    # + 15 s, seen at the 36 s step) with simx-a's; only simx-a's is notified (46 s).
    # Back in band at 80 s: simx-b's was never notified, so only simx-a resolves (106 s).
    # Gaps at 90 s and 95 s: feed_integrity (hold 300 s) fires at 90 s, notified at 100 s
    # (40 + 60) with feed_stale's owed resolution. The reference is stale 100-160 s:
    # reference_stale fires at 110 s (10 s), its own group notifies at 120 s and resolves
    # at 120 + 60 = 180 s.
    a_scope = _scopes()[0]
    b_feed = "stream=book:AAPLx/USD,venue=simx-b"
    assert summary(notes) == [
        ("alert.firing", 40, [f"feed_stale:{b_feed}"]),
        ("alert.firing", 46, [a_scope]),
        ("alert.firing", 100, [f"feed_integrity:{b_feed}"]),
        ("alert.resolved", 100, [f"feed_stale:{b_feed}"]),
        ("alert.resolved", 106, [a_scope]),
        ("alert.firing", 120, ["reference_stale:underlying=AAPL"]),
        ("alert.resolved", 180, ["reference_stale:underlying=AAPL"]),
    ]


@pytest.mark.slow
def test_engine_restart_from_saved_state_sends_the_same_notifications() -> None:
    rules = load_default_rules().restricted_to({"basis", "feed_events"})
    inputs = _mixed(260)
    steps = [at(s) for s in range(0, 260, 2)]
    straight = sent(run(AlertEngine(rules), inputs, steps))
    first = AlertEngine(rules)
    before = sent(run(first, inputs, steps[:45]))
    saved = first.state  # what the store would persist after the step at 88 s
    after = sent(run(AlertEngine(rules, state=saved), inputs, steps[45:]))
    assert [(n.id, n.data) for n in before + after] == [(n.id, n.data) for n in straight]
    assert len(straight) >= 4


def test_engine_removed_rule_resolves_its_notified_alerts() -> None:
    fast = {"fast": {"by": ["rule"], "wait_s": 0, "interval_s": 1}}
    rule: dict[str, Any] = {
        "id": "exec",
        "metric": "basis.exec_basis_bps",
        "group": "fast",
        "condition": {"op": ">", "threshold": 50.0},
    }
    engine = AlertEngine(rules_of(rule, groups=fast))
    inputs = _episode(40)
    first = run(engine, inputs, [at(20)])
    assert [n.type for n in sent(first)] == ["alert.firing"]
    other = rules_of(rule | {"id": "other", "enabled": False}, groups=fast)
    later = AlertEngine(other, state=engine.state)
    results = run(later, inputs, [at(21), at(22)])
    notes = sent(results)
    assert summary(notes) == [
        ("alert.resolved", 21, [s.replace("basis_exec_live", "exec") for s in _scopes()])
    ]
    assert {a.detail["reason"] for a in results[0].audit if a.action == "resolved"} == {
        "rule removed or disabled"
    }


def test_engine_wiring_errors() -> None:
    rules = load_default_rules().restricted_to({"basis", "feed_events"})
    with pytest.raises(ConfigError, match="feed_events") as err:
        run_step(EngineState(), _episode(2), rules=rules, now_ns=at(1))
    assert err.value.key == "inputs"
    engine = AlertEngine(load_default_rules().restricted_to({"basis"}))
    engine.step(_episode(2), now_ns=at(1))
    with pytest.raises(BadRequestError, match="before the previous step"):
        engine.step(_episode(2), now_ns=at(0))


def test_engine_input_windows_follow_the_rules() -> None:
    engine = AlertEngine(load_default_rules().restricted_to({"basis", "feed_events"}))
    # basis: 90 s (closed band: for 60 s + 30 s); feed_events: 1 day (feed_stale edges).
    assert engine.input_windows(at(100)) == {
        "basis": (at(100) - 90 * S, at(100)),
        "feed_events": (at(100) - 86_400 * S, at(100)),
    }
