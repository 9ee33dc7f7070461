"""compute_rule_status: one status row per scope at ``now``, hand-checked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import pytest
from alert_frames import T0, S, at, basis_row, rules_of, table_frame
from polars.testing import assert_frame_equal

from divergence.alerts.conditions import compute_rule_status, rule_status_schema
from divergence.alerts.rules import Rule
from divergence.errors import ConfigError

EXEC = {
    "id": "exec",
    "metric": "basis.exec_basis_bps",
    "reference": ["live"],
    "condition": {"op": ">", "threshold": 50.0, "abs": True, "for_s": 15},
}


def _rule(spec: dict[str, Any]) -> Rule:
    return rules_of(spec).rules[0]


def _dt(ns: int | None) -> datetime | None:
    return None if ns is None else pl.Series([ns]).cast(pl.Datetime("ns")).item()


def _expected(rule: Rule, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = rule_status_schema(rule)
    for row in rows:
        for name in ("last_ts", "since", "due_at", "cleared_at"):
            row[name] = _dt(row.get(name))
    return pl.DataFrame(
        [{name: row.get(name) for name in schema.names()} for row in rows], schema=schema
    )


def _status(rule: Rule, table: str, rows: list[dict[str, Any]], now: int) -> pl.DataFrame:
    return compute_rule_status(table_frame(table, rows), rule, now_ns=now).collect()


SCOPE = {"underlying": "AAPL", "venue": "simx-a", "instrument_id": "AAPLx@simx-a"}


def test_conditions_sample_met_run_gives_since_and_due() -> None:
    rule = _rule(EXEC)
    # rows every 1 s from 0 to 30 s; |-60| > 50 from 10 s on (a cheap side counts: abs).
    rows = [basis_row(at(s), -60.0 if s >= 10 else 20.0) for s in range(31)]
    got = _status(rule, "basis", rows, at(30))
    # run of met rows starts at 10 s; due = 10 s + for 15 s = 25 s <= now (30 s); 21 rows.
    expected = _expected(
        rule,
        [
            SCOPE
            | {"quote_currency": "USD", "state": "met", "value": -60.0, "threshold": 50.0}
            | {"session": "regular", "last_ts": at(30), "since": at(10), "due_at": at(25)}
            | {"run_len": 21}
        ],
    )
    assert_frame_equal(got, expected)


def test_conditions_sample_not_met_gives_cleared_at() -> None:
    rule = _rule(EXEC)
    # met 0..9 s, back inside the band from 10 s: cleared at the first row out, 10 s.
    rows = [basis_row(at(s), 80.0 if s < 10 else 5.0) for s in range(20)]
    got = _status(rule, "basis", rows, at(19))
    expected = _expected(
        rule,
        [
            SCOPE
            | {"quote_currency": "USD", "state": "not_met", "value": 5.0, "threshold": 50.0}
            | {"session": "regular", "last_ts": at(19), "cleared_at": at(10), "run_len": 10}
        ],
    )
    assert_frame_equal(got, expected)


def test_conditions_stale_reference_is_unknown_closed_is_out_of_scope() -> None:
    rule = _rule(EXEC)
    stale = [basis_row(at(0), 80.0)] + [
        basis_row(at(s), None, ref_state="stale") for s in range(1, 40)
    ]
    # the stale rows are skipped: the last usable row (0 s) is 40 s old > 30 s: no data.
    got = _status(rule, "basis", stale, at(40))
    assert got.select("state", "last_ts", "run_len").row(0) == ("no_data", _dt(at(0)), 1)
    closed = [basis_row(at(0), 80.0)] + [
        basis_row(at(s), None, ref_state="closed", session="closed") for s in range(1, 5)
    ]
    # closed rows are out of scope: they count as not met from 1 s, 4 rows.
    got = _status(rule, "basis", closed, at(5))
    assert got.select("state", "cleared_at", "run_len").row(0) == ("not_met", _dt(at(1)), 4)


def test_conditions_gap_longer_than_no_data_breaks_the_run() -> None:
    rule = _rule(EXEC)
    # met at 0 s, then nothing for 31 s (> 30 s no_data_after), met again from 31 s.
    rows = [basis_row(at(0), 80.0)] + [basis_row(at(s), 80.0) for s in range(31, 36)]
    got = _status(rule, "basis", rows, at(35))
    # the run restarts at 31 s: due 46 s, still pending at 35 s.
    assert got.select("since", "due_at", "run_len").row(0) == (_dt(at(31)), _dt(at(46)), 5)


def test_conditions_threshold_scales_with_session() -> None:
    rule = _rule(EXEC | {"condition": EXEC["condition"] | {"scale_by_session": {"post": 2.0}}})
    rows = [
        basis_row(at(0), 70.0, session="post"),
        basis_row(at(0), 120.0, venue="simx-b", session="post"),
    ]
    got = _status(rule, "basis", rows, at(1)).select("venue", "state", "threshold")
    # post: 50 x 2 = 100 bps; 70 is inside, 120 beyond.
    expected = pl.DataFrame(
        {"venue": ["simx-a", "simx-b"], "state": ["not_met", "met"], "threshold": [100.0, 100.0]}
    )
    assert_frame_equal(got, expected)


def test_conditions_null_as_turns_missing_values_into_numbers() -> None:
    rule = _rule(
        {
            "id": "crossed",
            "metric": "fragmentation_1s.crossed_net_bps_max",
            "condition": {"op": ">", "threshold": 0.0, "null_as": 0.0, "for_s": 2},
        }
    )
    rows = [
        {"bucket_start": at(s), "underlying": "AAPL", "crossed_net_bps_max": v}
        for s, v in ((0, None), (1, 3.0), (2, 4.0), (3, 2.5))
    ]
    got = _status(rule, "fragmentation_1s", rows, at(3))
    # the null bucket is 0 (not met), the run starts at 1 s, due 1 + 2 = 3 s.
    expected = _expected(
        rule,
        [
            {"underlying": "AAPL", "state": "met", "value": 2.5, "threshold": 0.0}
            | {"last_ts": at(3), "since": at(1), "due_at": at(3), "run_len": 3}
        ],
    )
    assert_frame_equal(got, expected)


def test_conditions_hold_keeps_an_event_met_for_hold_s() -> None:
    rule = _rule(
        {
            "id": "integrity",
            "metric": "feed_events.event",
            "condition": {"op": "in", "values": ["gap", "checksum_mismatch"], "hold_s": 60},
        }
    )
    rows = [
        {"ts": at(50), "venue": "kraken", "stream": "book:X", "event": "gap"},
        {"ts": at(95), "venue": "kraken", "stream": "book:X", "event": "checksum_mismatch"},
        {"ts": at(96), "venue": "kraken", "stream": "book:X", "event": "resync"},
        {"ts": at(30), "venue": "bybit", "stream": "book:Y", "event": "gap"},
    ]
    got = _status(rule, "feed_events", rows, at(100))
    # LOOKBACK = for 0 s + hold 60 s: the window is (40 s, 100 s]. kraken: 50 s and 95 s
    # are 45 s apart (< 60): one run from 50 s, met until 155 s. bybit's gap at 30 s (met
    # until 90 s) is outside the window: no row, which the lifecycle reads as not met.
    expected = _expected(
        rule,
        [
            {"venue": "kraken", "stream": "book:X", "state": "met"}
            | {"value_text": "checksum_mismatch", "last_ts": at(95), "since": at(50)}
            | {"due_at": at(50), "run_len": 2},
        ],
    )
    assert_frame_equal(got, expected)
    # with a for-duration, a finished run inside the window reports when it cleared.
    held = _rule(rule.model_dump() | {"condition": rule.condition.model_dump() | {"for_s": 30}})
    got = _status(held, "feed_events", rows, at(100))
    assert got.select("venue", "state", "cleared_at").rows() == [
        ("bybit", "not_met", _dt(at(90))),
        ("kraken", "met", None),
    ]


def test_conditions_interval_is_met_while_active() -> None:
    rule = _rule(
        {
            "id": "pause",
            "metric": "luld_events.event",
            "condition": {"op": "in", "values": ["pause_equiv"]},
        }
    )
    rows = [
        {
            "event": "pause_equiv",
            "underlying": "AAPL",
            "ts_start": at(0),
            "ts_end": at(300),
            "session": "regular",
        },
        {
            "event": "band_breach",
            "underlying": "AAPL",
            "ts_start": at(5),
            "ts_end": at(5),
            "session": "regular",
        },
        {
            "event": "pause_equiv",
            "underlying": "MSFT",
            "ts_start": at(10),
            "ts_end": at(40),
            "session": "regular",
        },
    ]
    got = _status(rule, "luld_events", rows, at(60))
    # AAPL's pause [0, 300 s) is active at 60 s; MSFT's [10, 40 s) ended at 40 s.
    expected = _expected(
        rule,
        [
            {"underlying": "AAPL", "state": "met", "value_text": "pause_equiv"}
            | {"session": "regular", "last_ts": at(0), "since": at(0), "due_at": at(0)}
            | {"run_len": 1},
            {"underlying": "MSFT", "state": "not_met", "value_text": "pause_equiv"}
            | {"session": "regular", "last_ts": at(10), "cleared_at": at(40), "run_len": 0},
        ],
    )
    assert_frame_equal(got, expected)


def test_conditions_for_samples_counts_consecutive_rows() -> None:
    rule = _rule(
        {
            "id": "premium",
            "metric": "daily_premium.pd",
            "lookback_s": 16 * 86_400,
            "condition": {"op": ">", "threshold": 0.02, "abs": True, "for_samples": 3},
        }
    )
    day = 86_400
    rows = [
        {"close_ts": at(d * day), "underlying": "AAPL", "pd": pd}
        for d, pd in ((0, 0.03), (1, 0.01), (2, -0.025), (3, 0.021), (4, 0.05))
    ]
    at_day3 = _status(rule, "daily_premium", rows[:4], at(3 * day))
    # days 2 and 3 are a run of 2 < 3 samples: met but not yet due.
    assert at_day3.select("state", "since", "due_at", "run_len").row(0) == (
        "met",
        _dt(at(2 * day)),
        None,
        2,
    )
    at_day4 = _status(rule, "daily_premium", rows, at(4 * day))
    # the third consecutive sample (day 4) makes it due at day 4's close.
    assert at_day4.select("due_at", "run_len").row(0) == (_dt(at(4 * day)), 3)


def test_conditions_flag_and_session_from_the_calendar() -> None:
    rule = _rule(
        {
            "id": "crossed",
            "metric": "fragmentation_1s.crossed_net_frac",
            "sessions": ["post"],
            "condition": {"op": ">", "threshold": 0.5},
        }
    )
    # 15:59:59 ET is regular (out of scope), 16:00:00 ET is post: from the XNYS calendar.
    close = T0 + 240 * S
    rows = [
        {"bucket_start": close - S, "underlying": "AAPL", "crossed_net_frac": 0.9},
        {"bucket_start": close, "underlying": "AAPL", "crossed_net_frac": 0.9},
    ]
    got = _status(rule, "fragmentation_1s", rows, close)
    assert got.select("state", "session", "since", "run_len").row(0) == (
        "met",
        "post",
        _dt(close),
        1,
    )
    flag = _rule(
        {"id": "stress", "metric": "stress_states.episode_open", "condition": {"op": "is_true"}}
    )
    rows = [{"bucket_start": at(0), "episode_open": True, "session": "regular"}]
    got = _status(flag, "stress_states", rows, at(1))
    assert got.select("state", "value", "value_text").row(0) == ("met", 1.0, "true")


def test_conditions_where_and_scope_filter_rows() -> None:
    rule = _rule(
        EXEC
        | {
            "where": [{"name": "source_kind", "op": "!=", "value": "pool"}],
            "scope": [{"name": "venue", "op": "=~", "value": "simx-(a|c)"}],
        }
    )
    rows = [basis_row(at(0), 80.0, venue=v) for v in ("simx-a", "simx-b", "simx-c")]
    rows[2]["source_kind"] = "pool"
    got = _status(rule, "basis", rows, at(1))
    # simx-b is out of scope, simx-c is a pool: only simx-a remains.
    assert got["venue"].to_list() == ["simx-a"]


def test_conditions_lookback_claim_full_equals_window() -> None:
    rule = _rule(EXEC)
    rows = [
        basis_row(at(s), 80.0 if (s // 40) % 2 else 10.0, venue=v)
        for s in range(0, 400, 3)
        for v in ("simx-a", "simx-b")
    ]
    now = at(250)
    start = now - rule.lookback_ns
    window = [r for r in rows if start < r["ts_event"] <= now]
    assert len(window) < len(rows)
    full = _status(rule, "basis", rows, now)
    assert_frame_equal(full, _status(rule, "basis", window, now))
    # and rows after now never count
    assert_frame_equal(full, _status(rule, "basis", [r for r in rows if r["ts_event"] <= now], now))


def test_conditions_missing_input_column_names_it() -> None:
    rule = _rule(EXEC)
    frame = table_frame("basis", [basis_row(at(0), 1.0)]).drop("exec_basis_bps")
    with pytest.raises(ConfigError, match="exec_basis_bps") as err:
        compute_rule_status(frame, rule, now_ns=at(1)).collect()
    assert err.value.key == "basis"
