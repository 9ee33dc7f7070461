"""Grouping, group_wait, group_interval and repeat_interval on a simulated timeline."""

from __future__ import annotations

from typing import Any

from alert_frames import at, basis_row, rules_of, run, sent, summary, table_frame

from divergence.alerts.engine import AlertEngine

EXEC: dict[str, Any] = {
    "id": "exec",
    "metric": "basis.exec_basis_bps",
    "reference": ["live"],
    "group": "basis",
    "condition": {"op": ">", "threshold": 50.0, "for_s": 15},
}


def _engine(**policy: float) -> AlertEngine:
    group = {"by": ["underlying"], "wait_s": 10, "interval_s": 60, "repeat_s": 86_400} | policy
    return AlertEngine(rules_of(EXEC, groups={"basis": group}))


def _rows(windows: dict[tuple[str, str], tuple[int, int]], end: int) -> dict[str, Any]:
    """80 bps on (underlying, venue) inside its [start, stop) window, 5 bps outside."""
    rows = [
        basis_row(at(s), 80.0 if start <= s < stop else 5.0, venue=venue, underlying=und)
        for (und, venue), (start, stop) in windows.items()
        for s in range(end + 1)
    ]
    return {"basis": table_frame("basis", rows)}


def _scope(venue: str, underlying: str = "AAPL") -> str:
    return (
        f"exec:instrument_id={underlying}x@{venue},quote_currency=USD,"
        f"underlying={underlying},venue={venue}"
    )


SCENARIO = {("AAPL", "simx-a"): (0, 90), ("AAPL", "simx-b"): (5, 90), ("AAPL", "simx-c"): (40, 90)}


def test_grouping_wait_batches_and_interval_paces_updates() -> None:
    engine = _engine()
    results = run(engine, _rows(SCENARIO, 150), [at(s) for s in range(151)])
    # a fires at 15 s (group created), b at 20 s: one notice at 15 + wait 10 = 25 s.
    # c fires at 55 s: the group's next flush is 25 + interval 60 = 85 s, with all three.
    # All resolve at 90 s: the next flush after 85 s is 145 s.
    a, b, c = _scope("simx-a"), _scope("simx-b"), _scope("simx-c")
    assert summary(sent(results)) == [
        ("alert.firing", 25, [a, b]),
        ("alert.firing", 85, [a, b, c]),
        ("alert.resolved", 145, [a, b, c]),
    ]
    notes = sent(results)
    assert [n.data["seq"] for n in notes] == [0, 1, 2]
    assert len({n.id for n in notes}) == 3
    assert {n.group_key for n in notes} == {"basis:underlying=AAPL"}
    assert engine.state.groups == {}


def test_grouping_repeat_interval_resends_still_firing_alerts() -> None:
    engine = _engine(wait_s=0, interval_s=5, repeat_s=30)
    results = run(engine, _rows({("AAPL", "simx-a"): (0, 200)}, 80), [at(s) for s in range(81)])
    notes = sent(results)
    # firing at 15 s, then every 30 s while nothing changes: 45 s and 75 s.
    assert summary(notes) == [
        ("alert.firing", 15, [_scope("simx-a")]),
        ("alert.firing", 45, [_scope("simx-a")]),
        ("alert.firing", 75, [_scope("simx-a")]),
    ]
    assert [n.data["repeat"] for n in notes] == [False, True, True]
    assert len({n.id for n in notes}) == 3


def test_grouping_alert_that_resolves_inside_group_wait_sends_nothing() -> None:
    engine = _engine()
    # fires at 15 s, resolves at 20 s, before the first flush at 25 s.
    results = run(engine, _rows({("AAPL", "simx-a"): (0, 20)}, 40), [at(s) for s in range(41)])
    assert sent(results) == []
    assert [a.action for r in results for a in r.audit] == ["pending", "firing", "resolved"]
    assert engine.state.groups == {}


def test_grouping_splits_by_group_labels() -> None:
    engine = _engine(wait_s=0)
    windows = {("AAPL", "simx-a"): (0, 100), ("MSFT", "simx-a"): (0, 100)}
    results = run(engine, _rows(windows, 20), [at(s) for s in range(21)])
    notes = sent(results)
    assert [(n.group_key, n.data["group"]["labels"]) for n in notes] == [
        ("basis:underlying=AAPL", {"underlying": "AAPL"}),
        ("basis:underlying=MSFT", {"underlying": "MSFT"}),
    ]
    assert summary(notes) == [
        ("alert.firing", 15, [_scope("simx-a")]),
        ("alert.firing", 15, [_scope("simx-a", "MSFT")]),
    ]


def test_grouping_ids_are_the_same_in_a_second_run() -> None:
    first = sent(run(_engine(), _rows(SCENARIO, 150), [at(s) for s in range(151)]))
    second = sent(run(_engine(), _rows(SCENARIO, 150), [at(s) for s in range(151)]))
    assert [(n.id, n.type, n.timestamp, n.data) for n in first] == [
        (n.id, n.type, n.timestamp, n.data) for n in second
    ]
