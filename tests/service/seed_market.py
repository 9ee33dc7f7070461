"""Seed market tables for the API's read endpoints (quotes, trades, fx, fragmentation,
best execution, LULD bands) into a harness store, with values the tests can assert.

Times are ``harness.at(seconds)`` (T0 = 2025-10-10T12:00:00Z). Every seeded time holds
several rows (ties), so a page cut falls between tied rows unless the cut is right.

- quotes: at 10 s steps i = 0..9, one quote per instrument of ``QUOTED`` (three rows per
  time), bid ``{250 + i}.12`` ask ``{250 + i}.13`` (AAPL) and a TSLA quote at each step;
- trades: at each step, two AAPL trades (simx-a buy, simx-b sell) at ``{250 + i}.125``;
- fx_rates / fx_composite: USDC on sim-fx and sim-fx-b every 10 s;
- fragmentation_1m: AAPL and TSLA, minutes 0..4; fragmentation_1s: AAPL, seconds 0..4;
- execution_quality: one row per trade above; sweep_costs_1m: two notionals x two sides
  at minutes 0..2; venue_scorecard_daily: days 2025-10-09 and -10, two venues each;
- luld_bands: AAPL at minutes 0..3; luld_events: three events (one with ts_end NULL).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from harness import at

from divergence.catalog import Catalog
from divergence.store.db import Store

STEPS = 10
STEP_S = 10
QUOTED = ("AAPLx@simx-a", "AAPLx@simx-b", "AAPL@sim-sip")
VENUE_OF = {"AAPLx@simx-a": "simx-a", "AAPLx@simx-b": "simx-b", "AAPL@sim-sip": "sim-sip"}
TSLA = "TSLAx@simx-a"
TIME_COLUMNS = {
    "ts_event",
    "ts_recv",
    "ts_ingest",
    "bucket_start",
    "bbo_ts",
    "ref_ts",
    "ts_start",
    "ts_end",
}


def insert_rows(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    """``INSERT INTO table BY NAME``: columns not given are NULL; times given as epoch ns;
    decimals as strings (DuckDB casts them exactly)."""
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col(c).cast(pl.Int64).cast(pl.Datetime("ns")) for c in TIME_COLUMNS if c in rows[0]
    )
    cur = store.cursor()
    cur.register("_seed", frame.to_arrow())
    cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _seed")
    cur.unregister("_seed")


def quote_rows() -> list[dict[str, Any]]:
    rows = []
    seq = 0
    for i in range(STEPS):
        for instrument in (*QUOTED, TSLA):
            seq += 1
            base = 250 + i if instrument != TSLA else 400 + i
            rows.append(
                {
                    "ts_event": at(i * STEP_S),
                    "ts_recv": at(i * STEP_S) + 1_000,
                    "ts_ingest": at(i * STEP_S) + 2_000,
                    "venue": VENUE_OF.get(instrument, "simx-a"),
                    "instrument_id": instrument,
                    "symbol": instrument.split("@")[0],
                    "bid_px": f"{base}.12",
                    "bid_sz": "10.5",
                    "ask_px": f"{base}.13",
                    "ask_sz": "3",
                    "ingest_seq": seq,
                }
            )
    return rows


def trade_rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(STEPS):
        for k, (instrument, side) in enumerate((("AAPLx@simx-a", "buy"), ("AAPLx@simx-b", "sell"))):
            rows.append(
                {
                    "ts_event": at(i * STEP_S + 5),
                    "ts_recv": at(i * STEP_S + 5),
                    "ts_ingest": at(i * STEP_S + 5),
                    "venue": VENUE_OF[instrument],
                    "instrument_id": instrument,
                    "symbol": instrument.split("@")[0],
                    "price": f"{250 + i}.125",
                    "size": "0.000000000000000001" if k else "2",
                    "side": side,
                    "trade_id": f"t{i}-{k}",
                    "ingest_seq": 1_000 + 2 * i + k,
                }
            )
    return rows


def fx_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rates, composite = [], []
    for i in range(STEPS):
        for j, venue in enumerate(("sim-fx", "sim-fx-b")):
            ts = at(i * STEP_S)
            rate = "0.9998" if j == 0 else "1.0001"
            seq = 2_000 + 2 * i + j
            rates.append(
                {
                    "ts_event": ts,
                    "ts_recv": ts,
                    "ts_ingest": ts,
                    "venue": venue,
                    "currency": "USDC",
                    "rate_usd": rate,
                    "ingest_seq": seq,
                }
            )
            composite.append(
                {
                    "ts_event": ts,
                    "ts_ingest": ts,
                    "venue": venue,
                    "currency": "USDC",
                    "rate_usd": float(rate),
                    "median_usd": 0.99995,
                    "sources": 2,
                    "deviation_bps": (float(rate) / 0.99995 - 1) * 1e4,
                    "venue_local_depeg": False,
                    "stablecoin_depeg": False,
                    "source_seq": seq,
                }
            )
    return rates, composite


def fragmentation_rows(seconds: int, count: int, underlyings: tuple[str, ...]) -> list[dict]:
    return [
        {
            "underlying": u,
            "bucket_start": at(b * seconds),
            "active_venues": 3,
            "volume_usd": 1000.0 * (b + 1),
            "hhi_volume": 0.5,
            "ffi_volume": 2.0,
            "depth_usd": 5000.0,
            "locked_ns": 0,
            "locked_frac": 0.0,
            "crossed_ns": 250_000_000 * b,
            "crossed_frac": 0.25 * b / (seconds if seconds > 1 else 1),
            "crossed_net_ns": 0,
            "crossed_net_frac": 0.0,
        }
        for b in range(count)
        for u in underlyings
    ]


def bestex_rows() -> list[dict[str, Any]]:
    return [
        {
            "ts_event": t["ts_event"],
            "underlying": "AAPL",
            "venue": t["venue"],
            "instrument_id": t["instrument_id"],
            "trade_id": t["trade_id"],
            "source_seq": t["ingest_seq"],
            "price_usd": float(t["price"]),
            "side": t["side"],
            "side_inferred": False,
            "bbo_ts": t["ts_event"] - 1_000,
            "effective_spread_bps": 4.0 + n,
            "ref_state": "live" if n % 2 == 0 else "stale",
            "ref_ts": None,
            "notional_bucket": 1,
        }
        for n, t in enumerate(trade_rows())
    ]


def sweep_rows() -> list[dict[str, Any]]:
    return [
        {
            "ts_event": at(60 * m),
            "underlying": "AAPL",
            "side": side,
            "notional_usd": notional,
            "fillable": True,
            "fill_consolidated_usd": 250.0,
            "best_venue": "simx-a",
            "cost_of_fragmentation_bps": 1.5 * m,
        }
        for m in range(3)
        for side in ("buy", "sell")
        for notional in (1_000.0, 10_000.0)
    ]


def scorecard_rows() -> list[dict[str, Any]]:
    return [
        {
            "day": day,
            "underlying": "AAPL",
            "venue": venue,
            "notional_bucket": 1,
            "trades": 10 + k,
            "effective_spread_bps": 4.0 + k,
            "material_difference": False,
        }
        for day in (date(2025, 10, 9), date(2025, 10, 10))
        for k, venue in enumerate(("simx-a", "simx-b"))
    ]


def band_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    bands = [
        {
            "ts_event": at(60 * m),
            "underlying": "AAPL",
            "et_date": date(2025, 10, 10),
            "session": "regular",
            "tier": 1,
            "ref_price_usd": 250.0 + m,
            "lower_band_usd": 237.5 + m,
            "upper_band_usd": 262.5 + m,
        }
        for m in range(4)
    ]
    events = [
        {"event": "band_breach", "underlying": "AAPL", "ts_start": at(30), "ts_end": at(30),
         "side": "upper", "price_usd": 263.0, "venue": "simx-a", "trade_id": "t3-0"},
        {"event": "limit_state_equiv", "underlying": "AAPL", "ts_start": at(30),
         "ts_end": at(40), "side": "upper", "venue": "simx-b", "trade_id": None},
        {"event": "off_hours_band", "underlying": "AAPL", "ts_start": at(90), "ts_end": None,
         "side": "lower", "price_usd": 190.0, "venue": "simx-a", "trade_id": "t9-0"},
    ]  # fmt: skip
    return bands, events


def seed_market(store: Store, catalog: Catalog) -> None:
    """Every table above, plus the catalog's ``instruments`` (the quotes' underlyings)."""
    store.replace("instruments", catalog.instruments_frame())
    insert_rows(store, "quotes", quote_rows())
    insert_rows(store, "trades", trade_rows())
    rates, composite = fx_rows()
    insert_rows(store, "fx_rates", rates)
    insert_rows(store, "fx_composite", composite)
    insert_rows(store, "fragmentation_1m", fragmentation_rows(60, 5, ("AAPL", "TSLA")))
    insert_rows(store, "fragmentation_1s", fragmentation_rows(1, 5, ("AAPL",)))
    insert_rows(store, "execution_quality", bestex_rows())
    insert_rows(store, "sweep_costs_1m", sweep_rows())
    insert_rows(store, "venue_scorecard_daily", scorecard_rows())
    bands, events = band_rows()
    insert_rows(store, "luld_bands", bands)
    insert_rows(store, "luld_events", events)
