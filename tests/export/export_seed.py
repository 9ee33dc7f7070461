"""Seeded DuckDB files for the export tests: rows on two UTC dates for two underlyings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from divergence.clock import parse_time_param
from divergence.store.db import Store

DAYS = ("2025-10-09", "2025-10-10")
UNDERLYINGS = ("AAPL", "TSLA")
STEP_NS = 1_000_000_007  # sub-microsecond digits: TIMESTAMP_NS must survive the export

BASIS_SQL = """
INSERT INTO basis BY NAME
SELECT make_timestamp_ns($t0 + i * 1000000007) AS ts_event,
       make_timestamp_ns($t0 + i * 1000000007 + 5) AS ts_recv,
       make_timestamp_ns($t0 + i * 1000000007 + 9) AS ts_ingest,
       $u || 'x@' || v AS instrument_id, v AS venue, $u AS underlying,
       'book' AS source_kind, 'USD' AS quote_currency, 1.0 AS fx_rate, 'live' AS fx_state,
       1.0 AS multiplier, $px + i * 0.01 AS mid_usd, $px + i * 0.01 - 0.01 AS bid_usd,
       $px + i * 0.01 + 0.01 AS ask_usd, $px AS ref_mid, 'regular' AS session,
       'live' AS ref_state, (i % 7) - 3.5 AS basis_bps, i AS source_seq,
       CAST(i AS INTEGER) AS fx_sources, CASE WHEN i % 5 = 0 THEN NULL ELSE true END AS fx_depeg
FROM range($n) AS r(i), (VALUES ('simx-a'), ('simdex')) AS vv(v)
"""
QUOTES_SQL = """
INSERT INTO quotes BY NAME
SELECT make_timestamp_ns($t0 + i * 1000000007) AS ts_event,
       make_timestamp_ns($t0 + i * 1000000007 + 3) AS ts_recv,
       make_timestamp_ns($t0 + i * 1000000007 + 4) AS ts_ingest,
       'simx-a' AS venue, $instrument AS instrument_id, $instrument AS symbol,
       CAST('250.123456789012345678' AS DECIMAL(38, 18)) + i AS bid_px,
       CAST('0.000000000000000001' AS DECIMAL(38, 18)) * (i + 1) AS bid_sz,
       CAST('250.223456789012345678' AS DECIMAL(38, 18)) + i AS ask_px,
       CAST('3.5' AS DECIMAL(38, 18)) AS ask_sz, i AS ingest_seq
FROM range(10) AS r(i)
"""
INSTRUMENTS_SQL = """
INSERT INTO instruments BY NAME
SELECT u || 'x@simx-a' AS instrument_id, 'token' AS role, 'simx-a' AS venue,
       u || 'x' AS venue_symbol, u AS underlying, 'USD' AS quote_currency,
       '24/7' AS trading_hours, 10.0 AS taker_fee_bps
FROM (VALUES ('AAPL'), ('TSLA')) AS t(u)
"""
OTHER_SQL = [
    """INSERT INTO fx_rates VALUES
       ('2025-10-09 10:00:00.000000001', '2025-10-09 10:00:00.1', '2025-10-09 10:00:00.2',
        'kraken', 'USDC', 0.999812345678901234, 1),
       ('2025-10-10 23:59:59.999999999', '2025-10-11 00:00:00.1', '2025-10-11 00:00:00.2',
        'kraken', 'USDC', 1.000100000000000001, 2)""",
    """INSERT INTO alerts BY NAME SELECT * FROM (VALUES
       ('fp1', TIMESTAMP_NS '2025-10-09 14:00:00.5', 'basis_rich', 'firing', '{}', 'AAPL',
        'basis rich', '', '', '', '', false, TIMESTAMP_NS '2025-10-09 14:01:00'),
       ('fp2', TIMESTAMP_NS '2025-10-10 15:00:00.5', 'stale_feed', 'resolved', '{}', 'simx-b',
        'stale', '', '', '', '', true, TIMESTAMP_NS '2025-10-10 15:05:00'))
       AS t(fingerprint, active_at, rule_id, state, labels, scope, summary, explained_by,
            notes, inhibited_by, silenced_by, muted, updated_at)""",
    """INSERT INTO daily_premium VALUES
       ('AAPL', '2025-10-09', '2025-10-09 20:00:00', 251.5, '2025-10-09 19:59:59.5', 251.7,
        0.000795),
       ('TSLA', '2025-10-10', '2025-10-10 20:00:00', 431.25, NULL, NULL, NULL)""",
]


def day_start_ns(day: str) -> int:
    return parse_time_param(f"{day}T13:30:00Z", name="day")


def seed(store: Store, *, rows: int = 40) -> None:
    """Basis and quotes on both dates for both underlyings, and a few date-only rows."""
    store.execute(INSTRUMENTS_SQL)
    for day in DAYS:
        for k, underlying in enumerate(UNDERLYINGS):
            params: dict[str, Any] = {
                "t0": day_start_ns(day),
                "u": underlying,
                "n": rows,
                "px": 250.0 + 100 * k,
            }
            store.execute(BASIS_SQL, params)
            instrument = f"{underlying}x@simx-a"
            store.execute(QUOTES_SQL, {"t0": day_start_ns(day), "instrument": instrument})
    store.execute(QUOTES_SQL, {"t0": day_start_ns(DAYS[0]), "instrument": "USDCUSD@kraken"})
    for sql in OTHER_SQL:
        store.execute(sql)


def make_db(path: Path, *, rows: int = 40) -> Store:
    store = Store(path)
    store.migrate()
    seed(store, rows=rows)
    return store
