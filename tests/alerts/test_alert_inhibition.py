"""Inhibition and annotation with the default rules, on a simulated timeline."""

from __future__ import annotations

from typing import Any

from alert_frames import at, basis_row, run, sent, summary, table_frame

from divergence.alerts.engine import AlertEngine
from divergence.alerts.model import fingerprint
from divergence.alerts.rules import load_default_rules


def _scope(venue: str, currency: str = "USD") -> str:
    return (
        f"basis_exec_live:instrument_id=AAPLx@{venue},quote_currency={currency},"
        f"underlying=AAPL,venue={venue}"
    )


def _fp(venue: str, currency: str = "USD") -> str:
    scope = {"underlying": "AAPL", "venue": venue, "instrument_id": f"AAPLx@{venue}",
             "quote_currency": currency}  # fmt: skip
    return fingerprint("basis_exec_live", scope)


def test_inhibition_stale_reference_mutes_basis_and_raises_one_alert() -> None:
    engine = AlertEngine(load_default_rules().restricted_to({"basis"}))
    rows: list[dict[str, Any]] = []
    for s in range(131):
        for venue in ("simx-a", "simx-b"):
            if 40 <= s < 100:  # the reference is stale: no basis, ref_state stale
                rows.append(basis_row(at(s), None, venue=venue, ref_state="stale"))
            else:
                rows.append(basis_row(at(s), 80.0 if s < 40 else 5.0, venue=venue))
    results = run(engine, {"basis": table_frame("basis", rows)}, [at(s) for s in range(131)])
    # basis alerts fire at 15 s, notified at 25 s (basis group: wait 10 s). The
    # reference is stale from 40 s: reference_stale fires at 50 s (for 10 s) and is
    # notified at 60 s (feeds group, wait 10 s). The basis alerts lose their data at
    # 70 s (last row 39 s + 30 s) while inhibited: no stale-data notice. The reference
    # is live again at 100 s with the basis back in band: every alert resolves at 100 s;
    # the basis group (flushed at 25 s, interval 60 s) tells at once, the feeds group
    # (flushed at 60 s) at 120 s. One resolved notice each, although inhibited.
    assert summary(sent(results)) == [
        ("alert.firing", 25, [_scope("simx-a"), _scope("simx-b")]),
        ("alert.firing", 60, ["reference_stale:underlying=AAPL"]),
        ("alert.resolved", 100, [_scope("simx-a"), _scope("simx-b")]),
        ("alert.resolved", 120, ["reference_stale:underlying=AAPL"]),
    ]
    source = fingerprint("reference_stale", {"underlying": "AAPL"})
    inhibited = results[70].state.alerts[_fp("simx-a")]
    assert (inhibited.state, inhibited.inhibited_by) == ("stale-data", (source,))
    audit = [
        (a.action, dict(a.detail)) for a in results[50].audit if a.fingerprint == _fp("simx-a")
    ]
    assert audit == [("inhibited", {"by": [source]})]


def test_inhibition_stale_venue_mutes_only_that_venue() -> None:
    engine = AlertEngine(load_default_rules().restricted_to({"basis", "feed_events"}))
    rows = [
        basis_row(at(s), 80.0 if s < 100 else 5.0, venue=venue)
        for s in range(131)
        for venue in ("simx-a", "simx-b")
        if venue == "simx-a" or not 40 <= s < 100  # simx-b sends nothing in [40, 100)
    ]
    events = [
        {"ts": at(40), "venue": "simx-b", "stream": "book:AAPLx/USD", "event": "stale"},
        {"ts": at(100), "venue": "simx-b", "stream": "book:AAPLx/USD", "event": "fresh"},
        {"ts": at(1), "venue": "simx-b", "stream": "", "event": "backpressure"},
    ]
    inputs = {
        "basis": table_frame("basis", rows),
        "feed_events": table_frame("feed_events", events),
    }
    results = run(engine, inputs, [at(s) for s in range(131)])
    # simx-b's stream is stale at 40 s: feed_stale fires at once, notified at 50 s (feeds
    # group per venue, wait 10 s); it inhibits simx-b's basis alert, whose data stops
    # (stale-data at 70 s, not notified). simx-a is not inhibited and stays firing.
    assert summary(sent(results)) == [
        ("alert.firing", 25, [_scope("simx-a"), _scope("simx-b")]),
        ("alert.firing", 50, ["feed_stale:stream=book:AAPLx/USD,venue=simx-b"]),
        ("alert.resolved", 100, [_scope("simx-a"), _scope("simx-b")]),
        ("alert.resolved", 110, ["feed_stale:stream=book:AAPLx/USD,venue=simx-b"]),
    ]
    at_80 = results[80].state.alerts
    assert (at_80[_fp("simx-b")].state, at_80[_fp("simx-b")].suppressed) == ("stale-data", True)
    assert (at_80[_fp("simx-a")].state, at_80[_fp("simx-a")].inhibited_by) == ("firing", ())


def test_inhibition_depeg_annotates_without_suppressing_or_duplicating() -> None:
    engine = AlertEngine(load_default_rules().restricted_to({"basis", "stablecoin_events"}))
    rows = [
        basis_row(at(s), 80.0, venue=venue, quote_currency=ccy)
        for s in range(91)
        for venue, ccy in (("simx-a", "USDC"), ("simx-b", "USD"))
    ]
    edges = [
        {"ts_event": at(30), "kind": "stablecoin_depeg", "currency": "USDC", "venue": None,
         "state": "start", "value_bps": -1226.0},
        {"ts_event": at(31), "kind": "venue_local_depeg", "currency": "USDC", "venue": "x",
         "state": "end", "value_bps": 3.0},
    ]  # fmt: skip
    inputs = {"basis": table_frame("basis", rows),
              "stablecoin_events": table_frame("stablecoin_events", edges)}  # fmt: skip
    results = run(engine, inputs, [at(s) for s in range(91)])
    notes = sent(results)
    # basis alerts notified at 25 s; the depeg fires at 30 s (stablecoin group, wait 5 s:
    # 35 s) and explains the USDC listing's alert, which the basis group re-sends with
    # the explanation at its next flush (25 + 60 = 85 s). Same two alerts, same starts.
    assert summary(notes) == [
        ("alert.firing", 25, [_scope("simx-a", "USDC"), _scope("simx-b")]),
        ("alert.firing", 35, ["stablecoin_depeg:quote_currency=USDC"]),
        ("alert.firing", 85, [_scope("simx-a", "USDC"), _scope("simx-b")]),
    ]
    depeg = fingerprint("stablecoin_depeg", {"quote_currency": "USDC"})
    usdc, usd = notes[2].data["alerts"]
    if usdc["labels"]["quote_currency"] != "USDC":
        usdc, usd = usd, usdc
    assert usdc["explained_by"] == [
        {"fingerprint": depeg, "rule": "stablecoin_depeg", "summary": "USDC depegged"}
    ]
    assert usdc["annotations"] == {
        "depeg_explains_basis": "stablecoin depeg in progress: part of this basis may be"
        " the coin, not the stock"
    }
    assert (usd["explained_by"], usd["annotations"]) == ([], {})
    assert usdc["starts_at"] == usd["starts_at"] == "2025-10-10T19:56:15.000000000Z"
    alerts = engine.state.alerts
    assert sorted(a.rule_id for a in alerts.values()) == [
        "basis_exec_live",
        "basis_exec_live",
        "stablecoin_depeg",
    ]
    assert all(not a.suppressed for a in alerts.values())
