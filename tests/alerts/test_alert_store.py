"""The alert store on a real DuckDB file: state round trip, restart, audit, silences,
evidence bundles."""

from __future__ import annotations

import io
import zipfile

import orjson
import polars as pl
import pytest
from alert_frames import S, at, rules_of, run, sent, table_frame
from test_alert_engine import _episode

from divergence.alerts.engine import AlertEngine, StepResult
from divergence.alerts.matchers import Matcher
from divergence.alerts.model import EngineState
from divergence.alerts.rules import load_default_rules
from divergence.alerts.silences import Silence
from divergence.alerts.store import (
    active_silences,
    add_silence,
    audit_trail,
    episodes,
    evidence_zip,
    expire_silence,
    load_state,
    save_step,
)
from divergence.store.db import Store

WALL = 1_800_000_000 * S
"""The wall clock of the writes (recorded_at), unrelated to the data times."""


def _persisted_run(store: Store, engine: AlertEngine, inputs, seconds) -> list[StepResult]:
    results = []
    for s in seconds:
        before = engine.state
        result = engine.step(inputs, now_ns=at(s))
        save_step(store, before, result.state, ended=result.ended, audit=result.audit,
                  now_ns=WALL)  # fmt: skip
        results.append(result)
    return results


@pytest.mark.slow
def test_store_state_round_trips_through_duckdb(store: Store) -> None:
    engine = AlertEngine(load_default_rules().restricted_to({"basis"}))
    inputs = _episode(120)
    checked = 0
    for s in range(120):
        _persisted_run(store, engine, inputs, [s])
        if s in (25, 40, 50, 70, 110):  # pending, firing, notified, resolved owed, done
            assert load_state(store) == engine.state
            checked += 1
        if s == 70:  # the resolved notice is owed until 105 s: kept in the group's row
            assert len(load_state(store).groups["basis:underlying=AAPL"].resolved) == 3
    assert checked == 5


@pytest.mark.slow
def test_store_restart_from_the_database_continues_the_same(store: Store) -> None:
    rules = load_default_rules().restricted_to({"basis"})
    inputs = _episode(160)
    straight = sent(run(AlertEngine(rules), inputs, [at(s) for s in range(160)]))
    first = _persisted_run(store, AlertEngine(rules), inputs, range(80))
    # the process dies after the step at 79 s; a new one restores from the database
    restored = AlertEngine(rules, state=load_state(store))
    assert restored.state.now_ns == at(79)
    assert restored.state.groups["basis:underlying=AAPL"].resolved != ()
    second = _persisted_run(store, restored, inputs, range(80, 160))
    assert [(n.id, n.data) for n in sent(first) + sent(second)] == [
        (n.id, n.data) for n in straight
    ]
    # 80 bps episode: the three listings' episodes, fired at 35 s, resolved at 65 s
    rows = episodes(store, start_ns=at(0), end_ns=at(200))
    assert [(a.state, a.fired_at, a.ends_at, a.labels["venue"]) for a in
            sorted(rows, key=lambda a: a.labels["venue"])] == [
        ("resolved", at(35), at(65), "simx-a"),
        ("resolved", at(35), at(65), "simx-b"),
        ("resolved", at(35), at(65), "simx-c"),
    ]  # fmt: skip
    assert load_state(store).alerts == {} and load_state(store).groups == {}


@pytest.mark.slow
def test_store_audit_trail_is_append_only_and_idempotent(store: Store) -> None:
    engine = AlertEngine(load_default_rules().restricted_to({"basis"}))
    results = _persisted_run(store, engine, _episode(120), range(120))
    fp = next(a.fingerprint for r in results for a in r.ended if a.labels["venue"] == "simx-a")
    trail = audit_trail(store, fp)
    assert [((r.ts - at(0)) // S, r.action) for r in trail] == [
        (20, "pending"),
        (35, "firing"),
        (45, "notified"),
        (65, "resolved"),
        (105, "notified"),
    ]
    assert trail[1].detail == {"fired_at": at(35), "value": 71.0}
    # re-saving the same step (a recompute after a crash) adds nothing
    last = results[105]
    save_step(store, EngineState(), last.state, ended=(), audit=last.audit, now_ns=WALL + S)
    assert audit_trail(store, fp) == trail
    count = store.query("SELECT count(*) AS n FROM alert_audit").item()
    assert count == sum(len(r.audit) for r in results)


def test_store_pending_that_clears_is_marked_cleared(store: Store) -> None:
    rule = {
        "id": "exec",
        "metric": "basis.exec_basis_bps",
        "condition": {"op": ">", "threshold": 50.0, "for_s": 15},
    }
    engine = AlertEngine(rules_of(rule))
    rows = [{"ts_event": at(s), "underlying": "AAPL", "venue": "v", "instrument_id": "i",
             "quote_currency": "USD", "exec_basis_bps": 80.0 if s < 5 else 1.0}
            for s in range(10)]  # fmt: skip
    _persisted_run(store, engine, {"basis": table_frame("basis", rows)}, range(10))
    found = store.query("SELECT state, epoch_ns(active_at) AS active_at FROM alerts")
    assert found.rows() == [("cleared", at(0))]
    assert load_state(store).alerts == {}


def test_store_silences(store: Store) -> None:
    silence = Silence(
        id="s1",
        matchers=(Matcher(name="venue", op="=~", value="simx-.*"),),
        starts_at=at(0),
        ends_at=at(3600),
        created_by="ana",
        comment="maintenance",
    )
    add_silence(store, silence, now_ns=WALL)
    assert active_silences(store, now_ns=at(10)) == [silence]
    assert active_silences(store, now_ns=at(3600)) == []
    assert expire_silence(store, "s1", now_ns=at(20)) is True
    assert expire_silence(store, "s1", now_ns=at(30)) is False
    assert active_silences(store, now_ns=at(20)) == []


def test_store_evidence_bundle(store: Store) -> None:
    engine = AlertEngine(load_default_rules().restricted_to({"basis"}))
    run(engine, _episode(60), [at(s) for s in range(40)])
    fp = next(fp for fp, a in engine.state.alerts.items() if a.labels["venue"] == "simx-a")
    store.execute(
        "INSERT INTO quotes SELECT make_timestamp_ns($t + i * 1000000000), make_timestamp_ns($t),"
        " make_timestamp_ns($t), 'simx-a', $id, 'AAPLx/USD', 1, 1, 2, 1, i FROM range(3) r(i)",
        {"t": at(10), "id": "AAPLx@simx-a"},
    )
    store.execute(
        "INSERT INTO quotes VALUES (make_timestamp_ns($t), make_timestamp_ns($t),"
        " make_timestamp_ns($t), 'simx-b', 'AAPLx@simx-b', 'AAPLx/USD', 1, 1, 2, 1, 9)",
        {"t": at(10)},
    )
    bundle = zipfile.ZipFile(io.BytesIO(evidence_zip(store, engine.evidence(fp, now_ns=at(40)))))
    manifest = orjson.loads(bundle.read("manifest.json"))
    # only simx-a's three quotes are in the window; the other inputs are empty here
    assert manifest["rows"]["quotes"] == 3
    assert manifest["rows"]["basis"] == 0
    assert manifest["missing_tables"] == []
    assert manifest["rule"]["id"] == "basis_exec_live"
    quotes = pl.read_csv(bundle.read("quotes.csv"))
    assert quotes["instrument_id"].to_list() == ["AAPLx@simx-a"] * 3
    assert sorted(bundle.namelist()) == sorted(
        ["manifest.json", *(f"{t}.csv" for t in manifest["rows"])]
    )
