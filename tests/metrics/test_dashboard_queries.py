"""The dashboards' chart queries (sql/queries/chart_{underlying,overview,fragmentation,bestex}_*
and chart_price) on a real DuckDB file seeded with random rows: every value is recomputed
here from the seeded base rows, independently of the SQL."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from divergence.content import content_dir
from divergence.dashboards import load_dashboard, query_params
from divergence.store.db import Store

SEC = 1_000_000_000
S = 1_759_999_980 * SEC  # 2025-10-09 08:53:00 UTC, 04:53 ET: the window start
E = S + 3_600 * SEC  # window end (exclusive)
VENUES = ("simdex", "simx-a", "simx-b")
TS_COLUMNS = {
    "ts_event", "ts_recv", "ts_ingest", "ts", "bucket_start", "active_at", "fired_at",
    "ends_at", "updated_at", "effective_from", "ts_start", "ts_end",
}  # fmt: skip
Point = tuple[str, int, float]


def t(seconds: float) -> int:
    """Epoch ns ``seconds`` after the window start."""
    return S + round(seconds * SEC)


def _append(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    frame = pl.DataFrame(rows, infer_schema_length=None)
    frame = frame.with_columns(
        pl.col(c).cast(pl.Datetime("ns")) for c in frame.columns if c in TS_COLUMNS
    )
    store.append(table, frame)


def _run(store: Store, name: str, **given: Any) -> pl.DataFrame:
    sql = store.sql_text(name)
    given = {"venue": None, **given}  # every chart query may filter by venue
    return store.query(sql, {k: given[k] for k in query_params(sql)})


def _points(frame: pl.DataFrame) -> dict[tuple[str, int], float]:
    """Chart rows as {(series, ts_ns): value}."""
    rows = frame.select("series", "ts_ns", "value").rows()
    out = {(s, ts): v for s, ts, v in rows}
    assert len(out) == len(rows), "a (series, ts_ns) twice"
    return out


def _same(got: dict[tuple[str, int], float], expected: dict[tuple[str, int], float]) -> None:
    """The same points, values equal to 1e-9 relative."""
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def _minmax(points: list[Point], bucket_ns: int) -> dict[tuple[str, int], float]:
    """The min and the max point of every (series, bucket) of points inside [S, E)."""
    groups: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
    for series, ts, value in points:
        if S <= ts < E:
            groups[(series, (ts - S) // bucket_ns)].append((ts, value))
    out: dict[tuple[str, int], float] = {}
    for (series, _), members in groups.items():
        for ts, value in (min(members, key=lambda m: m[1]), max(members, key=lambda m: m[1])):
            out[(series, ts)] = value
    return out


def _bucket_means(
    rows: list[tuple[str, int, float, float]], bucket_ns: int
) -> dict[tuple[str, int], float]:
    """Weighted mean of (series, ts, value, weight) rows per (series, bucket) in [S, E)."""
    acc: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for series, ts, value, weight in rows:
        if S <= ts < E:
            cell = acc[(series, (ts - S) // bucket_ns)]
            cell[0] += value * weight
            cell[1] += weight
    return {(s, S + b * bucket_ns): v / w for (s, b), (v, w) in acc.items()}


# ---------------------------------------------------------------- seeded rows


class Seeded:
    """The rows written to the store, kept for the expectations."""

    def __init__(self) -> None:
        rng = random.Random(7)
        self.rng = rng
        self.basis: list[dict[str, Any]] = []
        seq = 0
        for underlying, venue, mult, lo, hi in [
            ("AAPL", "simx-a", 1.0, -600, 3_700),
            ("AAPL", "simdex", 1.0033, -600, 3_700),
            ("TSLA", "simx-a", 1.0, 0, 2_000),  # nothing in the last 15 minutes
        ]:
            for _ in range(300):
                seq += 1
                ref = 100 + rng.gauss(0, 2)
                self.basis.append(
                    {
                        "ts_event": t(rng.uniform(lo, hi)),
                        "ts_recv": S,
                        "ts_ingest": S,
                        "instrument_id": f"{underlying}x@{venue}",
                        "venue": venue,
                        "underlying": underlying,
                        "source_kind": "book",
                        "quote_currency": "USD",
                        "fx_state": "usd",
                        "multiplier": mult,
                        "mid_usd": ref * mult * (1 + rng.gauss(0, 0.001)),
                        "ref_mid": ref,
                        "session": rng.choice(["regular", "post"]),
                        "ref_state": "live",
                        "basis_bps": rng.gauss(0, 10),
                        "exec_basis_bps": rng.gauss(0, 20) if rng.random() > 0.2 else None,
                        "source_seq": seq,
                    }
                )
        # NVDA on simx-b: the latest row has no basis (stale reference)
        for offset, bps, state in [(-60, 7.5, "live"), (-4, None, "stale")]:
            seq += 1
            self.basis.append(
                {
                    **self.basis[0],
                    "ts_event": E + offset * SEC,
                    "instrument_id": "NVDAx@simx-b",
                    "venue": "simx-b",
                    "underlying": "NVDA",
                    "session": "regular",
                    "ref_state": state,
                    "basis_bps": bps,
                    "source_seq": seq,
                }
            )
        self.bbo: list[dict[str, Any]] = [
            {
                "ts_event": t(rng.uniform(-300, 3_700)),
                "underlying": "AAPL",
                "best_bid_usd": None if (null := rng.random() < 0.1) else 100 + rng.gauss(0, 2),
                "best_ask_usd": None if null else 101 + rng.gauss(0, 2),
                "venues": 0 if null else 2,
            }
            for _ in range(400)
        ]
        self.frag: dict[str, list[dict[str, Any]]] = {
            every: [
                {
                    "underlying": "AAPL",
                    "bucket_start": S + i * width,
                    "active_venues": 3,
                    "volume_usd": rng.uniform(0, 1e5),
                    "hhi_volume": None if rng.random() < 0.1 else (h := rng.uniform(0.34, 1)),
                    "ffi_volume": None if rng.random() < 0.1 else 1 / h,
                    "depth_usd": rng.uniform(0, 1e5),
                    "hhi_depth": (d := rng.uniform(0.34, 1)),
                    "ffi_depth": 1 / d,
                    "mid_range_bps": rng.uniform(0, 50),
                    "mid_dispersion_bps": None if rng.random() < 0.1 else rng.uniform(0, 20),
                    "locked_ns": (locked := rng.randrange(0, width // 3)),
                    "locked_frac": locked / width,
                    "crossed_ns": (crossed := rng.randrange(0, width // 3)),
                    "crossed_frac": crossed / width,
                    "crossed_net_ns": (net := rng.randrange(0, crossed + 1)),
                    "crossed_net_frac": net / width,
                }
                for i in range(lo, hi)
            ]
            for every, width, lo, hi in [("1s", SEC, -30, 3_630), ("1m", 60 * SEC, -2, 62)]
        }
        self.trade_throughs: list[dict[str, Any]] = [
            {
                "ts_event": t(rng.uniform(-60, 3_660)),
                "underlying": "AAPL",
                "venue": (venue := rng.choice(VENUES)),
                "instrument_id": f"AAPLx@{venue}",
                "trade_id": f"t{i}",
                "source_seq": i,
                "notional_usd": rng.uniform(10, 5_000),
                "traded_through": rng.choice([True, False, False, None]),
            }
            for i in range(600)
        ]
        self.depth: list[dict[str, Any]] = []
        for k in range(-2, 362):
            for venue, instruments in [("simdex", ["p1"]), ("simx-a", ["b1", "b2"])]:
                if rng.random() < 0.15:
                    continue  # the venue has no depth row at this sample
                for instrument in instruments:
                    for bps in (10, 25, 50, 100, 200):
                        self.depth.append(
                            {
                                "ts_event": t(10 * k),
                                "underlying": "AAPL",
                                "venue": venue,
                                "instrument_id": instrument,
                                "source_kind": "pool" if venue == "simdex" else "book",
                                "bps": bps,
                                "bid_depth_usd": bps * rng.uniform(50, 150),
                                "ask_depth_usd": bps * rng.uniform(50, 150),
                            }
                        )
        self.execution: list[dict[str, Any]] = [
            {
                "ts_event": t(rng.uniform(-60, 3_660)),
                "underlying": "AAPL",
                "venue": (venue := rng.choice(VENUES)),
                "instrument_id": f"AAPLx@{venue}",
                "trade_id": f"e{i}",
                "source_seq": i,
                "size_shares": rng.uniform(0.1, 50),
                "side": "buy",
                "side_inferred": False,
                "ref_state": "live",
                "realized_spread_15s_bps": None if rng.random() < 0.1 else rng.gauss(5, 10),
                "realized_spread_1m_bps": None if rng.random() < 0.1 else rng.gauss(3, 10),
            }
            for i in range(400)
        ]
        self.sweeps: list[dict[str, Any]] = []
        for k in range(-1, 61):
            ref_mid = None if rng.random() < 0.2 else 100 + rng.gauss(0, 1)
            for notional in (250.0, 1_000.0, 5_000.0):
                for side, d in (("buy", 1), ("sell", -1)):
                    fillable = rng.random() > 0.1
                    fill = 100 + d * rng.uniform(0, 1) if fillable else None
                    best = fill + d * rng.uniform(0, 0.5) if fill and rng.random() > 0.2 else None
                    self.sweeps.append(
                        {
                            "ts_event": t(60 * k + 0.5),
                            "underlying": "AAPL",
                            "side": side,
                            "notional_usd": notional,
                            "fillable": fillable,
                            "fill_consolidated_usd": fill,
                            "fill_best_venue_usd": best,
                            "ref_mid_usd": ref_mid,
                            "token_vs_stock_gap_bps": (
                                d * (fill - ref_mid) / ref_mid * 1e4 if fill and ref_mid else None
                            ),
                        }
                    )
        self.ref_quotes: list[dict[str, Any]] = []
        ts = -200.0
        while ts < 3_700:
            bid = 100 + rng.gauss(0, 1)
            self.ref_quotes.append(
                {
                    "ts_event": t(ts),
                    "ts_recv": t(ts),
                    "ts_ingest": t(ts),
                    "venue": "sip",
                    "instrument_id": "AAPL@sip",
                    "symbol": "AAPL",
                    "bid_px": bid,
                    "bid_sz": 100.0,
                    "ask_px": bid + rng.uniform(0.01, 0.2),
                    "ask_sz": 100.0,
                    "ingest_seq": len(self.ref_quotes),
                }
            )
            ts += rng.uniform(5, 90)  # some gaps longer than the 60 s limit
        self.scorecard: list[dict[str, Any]] = [
            {
                "day": day,
                "underlying": underlying,
                "venue": venue,
                "notional_bucket": bucket,
                "trades": rng.randrange(1, 100),
                "effective_spread_bps": rng.uniform(0, 30),
                "material_difference": rng.random() < 0.3,
            }
            for day in (date(2025, 10, 8), date(2025, 10, 9), date(2025, 10, 10))
            for underlying in ("AAPL", "TSLA")
            for venue in VENUES
            for bucket in (0, 250, 5_000)
        ]


def _seed_markers(store: Store) -> None:
    instruments = [
        ("AAPLx@simx-a", "token", "simx-a", "AAPLx/USD", "AAPL", "USD"),
        ("AAPLx@simdex", "token", "simdex", "AAPLx/USDC", "AAPL", "USDC"),
        ("TSLAx@simx-a", "token", "simx-a", "TSLAx/USD", "TSLA", "USD"),
        ("AAPL@sip", "reference", "sip", "AAPL", "AAPL", "USD"),
    ]
    columns = ["instrument_id", "role", "venue", "venue_symbol", "underlying", "quote_currency"]
    _append(
        store,
        "instruments",
        [
            {**dict(zip(columns, row, strict=True)), "trading_hours": "24/7", "taker_fee_bps": 0.0}
            for row in instruments
        ],
    )
    day = 86_400
    multipliers = [
        ("AAPLx@simdex", -10 * day, 1.0),
        ("AAPLx@simdex", 500, 1.0033),
        ("AAPLx@simx-a", -10 * day, 1.0),
        ("TSLAx@simx-a", 600, 1.5),
    ]
    _append(
        store,
        "multipliers",
        [
            {"instrument_id": iid, "effective_from": t(at), "multiplier": k}
            for iid, at, k in multipliers
        ],
    )
    alerts = [
        ("a1", "basis_exec_live", "resolved", {"underlying": "AAPL", "venue": "simx-a"}, 100, 400),
        ("a2", "crossed_book", "firing", {"underlying": "AAPL"}, 3_000, None),
        ("a3", "basis_exec_live", "resolved", {"underlying": "TSLA"}, 200, 300),
        ("a4", "basis_exec_live", "cleared", {"underlying": "AAPL"}, None, 300),
        (
            "a5",
            "basis_exec_live",
            "resolved",
            {"underlying": "AAPL", "venue": "simdex"},
            -1e3,
            -500,
        ),
        ("a6", "basis_exec_live", "resolved", {"underlying": "AAPL", "venue": "simdex"}, -100, 50),
    ]
    _append(
        store,
        "alerts",
        [
            {
                "fingerprint": fp,
                "active_at": t(-2_000),
                "rule_id": rule,
                "state": state,
                "labels": json.dumps({**scope, "severity": "warning"}),
                "scope": json.dumps(scope),
                "fired_at": None if fired is None else t(fired),
                "ends_at": None if ends is None else t(ends),
                "summary": f"summary {fp}",
                "explained_by": "[]",
                "notes": "[]",
                "inhibited_by": "[]",
                "silenced_by": "[]",
                "muted": False,
                "updated_at": S,
            }
            for fp, rule, state, scope, fired, ends in alerts
        ],
    )
    feed = [
        ("simx-a", "book:AAPLx/USD", "stale", 700, 5.0),
        ("simx-a", "book:AAPLx/USD", "fresh", 760, 65.0),
        ("simx-a", "book:TSLAx/USD", "gap", 800, 1.0),
        ("simx-a", "", "disconnect", 900, 0.0),
        ("simx-a", "", "connect", 930, 30.0),
        ("simdex", "trade:AAPLx/USDC", "gap", 1_200, 3.0),
        ("sip", "session:AAPL", "stale", 3_500, 6.0),
        ("other", "", "disconnect", 1_000, 0.0),
        ("sip", "session:TSLA", "stale", 1_500, 6.0),
    ]
    _append(
        store,
        "feed_events",
        [
            {
                "ts": t(at),
                "ts_ingest": t(at),
                "venue": venue,
                "stream": stream,
                "event": event,
                "detail": "",
                "value": value,
                "ingest_seq": i,
            }
            for i, (venue, stream, event, at, value) in enumerate(feed)
        ],
    )
    fx = [
        ("USDC", 1_300, 1.0, False),
        ("USDC", 1_400, 0.98, True),
        ("USDC", 1_450, 0.97, True),
        ("USDC", 1_600, 0.999, False),
        ("USDT", 1_400, 0.9, True),
    ]
    _append(
        store,
        "fx_composite",
        [
            {
                "ts_event": t(at),
                "venue": "fx1",
                "currency": ccy,
                "rate_usd": median,
                "median_usd": median,
                "sources": 1,
                "deviation_bps": 0.0,
                "venue_local_depeg": False,
                "stablecoin_depeg": depeg,
                "source_seq": i,
                "ts_ingest": t(at),
            }
            for i, (ccy, at, median, depeg) in enumerate(fx)
        ],
    )
    sessions = [("AAPL", "regular", -1_000), ("AAPL", "halted", 2_000)]
    sessions += [("AAPL", "regular", 2_300), ("TSLA", "halted", 2_500)]
    _append(
        store,
        "session_states",
        [
            {
                "ts_event": t(at),
                "ts_recv": t(at),
                "ts_ingest": t(at),
                "venue": "sip",
                "underlying": u,
                "session": s,
                "ingest_seq": i,
            }
            for i, (u, s, at) in enumerate(sessions)
        ],
    )
    _append(
        store,
        "luld_events",
        [
            {
                "event": "band_breach",
                "underlying": "AAPL",
                "ts_start": t(2_100),
                "ts_end": t(2_100),
                "side": "upper",
                "price_usd": 110.5,
                "venue": "simx-a",
            },
            {
                "event": "limit_state_equiv",
                "underlying": "AAPL",
                "ts_start": t(2_200),
                "ts_end": t(2_210),
                "side": "lower",
                "price_usd": 89.99,
                "venue": None,
            },
        ],
    )


LULD = [  # (underlying, seconds, lower, upper)
    ("AAPL", -500, 90.0, 110.0),
    ("AAPL", -100, 91.0, 109.0),  # in force at the window start
    ("AAPL", 100, 92.0, 108.0),
    ("AAPL", 200, None, None),
    ("AAPL", 300, 93.0, 107.0),
    ("AAPL", 1_000, 88.0, 112.0),
    ("AAPL", 1_001, 95.0, 105.0),
    ("AAPL", 3_600, 80.0, 120.0),  # at the window end: excluded
    ("TSLA", 150, 1.0, 2.0),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Seeded]]:
    store = Store(tmp_path_factory.mktemp("dashq") / "dash.duckdb")
    store.migrate()
    data = Seeded()
    _append(store, "basis", data.basis)
    _append(store, "consolidated_bbo", data.bbo)
    _append(store, "fragmentation_1s", data.frag["1s"])
    _append(store, "fragmentation_1m", data.frag["1m"])
    _append(store, "trade_throughs", data.trade_throughs)
    _append(store, "book_depth_1s", data.depth)
    _append(store, "execution_quality", data.execution)
    _append(store, "sweep_costs_1m", data.sweeps)
    _append(store, "quotes", data.ref_quotes)
    _append(store, "venue_scorecard_daily", data.scorecard)
    _append(
        store,
        "luld_bands",
        [
            {
                "ts_event": t(s),
                "underlying": u,
                "et_date": date(2025, 10, 9),
                "lower_band_usd": lo,
                "upper_band_usd": hi,
            }
            for u, s, lo, hi in LULD
        ],
    )
    _seed_markers(store)
    yield store, data
    store.close()


# ---------------------------------------------------------------- underlying detail


def test_dashboard_queries_price_adds_consolidated_bbo(seeded: tuple[Store, Seeded]) -> None:
    store, data = seeded
    bucket = 300 * SEC
    got = _points(_run(store, "chart_price", underlying="AAPL", start=S, end=E, bucket_ns=bucket))
    expected: list[Point] = []
    for r in data.basis:
        if r["underlying"] == "AAPL":
            expected.append((r["venue"], r["ts_event"], r["mid_usd"] / r["multiplier"]))
            expected.append(("reference", r["ts_event"], r["ref_mid"]))
    for r in data.bbo:
        if r["best_bid_usd"] is not None:
            expected.append(("bbo_bid", r["ts_event"], r["best_bid_usd"]))
            expected.append(("bbo_ask", r["ts_event"], r["best_ask_usd"]))
    _same(got, _minmax(expected, bucket))
    bids = [v for s, ts, v in expected if s == "bbo_bid" and S <= ts < E]
    got_bids = [v for (s, _), v in got.items() if s == "bbo_bid"]
    assert min(got_bids) == min(bids) and max(got_bids) == max(bids)
    per_bucket: dict[tuple[str, int], int] = defaultdict(int)
    for s, ts in got:
        per_bucket[(s, (ts - S) // bucket)] += 1
    assert max(per_bucket.values()) == 2 and len({s for s, _ in per_bucket}) == 5


@pytest.mark.parametrize("venue", [None, "simdex"])
def test_dashboard_queries_exec_basis_per_venue(
    seeded: tuple[Store, Seeded], venue: str | None
) -> None:
    store, data = seeded
    bucket = 120 * SEC
    frame = _run(
        store,
        "chart_underlying_exec_basis",
        underlying="AAPL",
        venue=venue,
        start=S,
        end=E,
        bucket_ns=bucket,
    )
    expected = [
        (r["venue"], r["ts_event"], r["exec_basis_bps"])
        for r in data.basis
        if r["underlying"] == "AAPL"
        and r["exec_basis_bps"] is not None
        and venue in (None, r["venue"])
    ]
    _same(_points(frame), _minmax(expected, bucket))
    assert set(frame["series"]) == ({"simdex"} if venue else {"simdex", "simx-a"})


def test_dashboard_queries_luld_band_every_row_and_the_one_in_force_at_start(
    seeded: tuple[Store, Seeded],
) -> None:
    store, _ = seeded
    frame = _run(
        store, "chart_underlying_luld_band", underlying="AAPL", start=S, end=E, bucket_ns=SEC
    )
    assert frame.rows() == [
        ("shadow LULD", S, 91.0, 109.0),  # from the row at -100 s, moved to the start
        ("shadow LULD", t(100), 92.0, 108.0),
        ("shadow LULD", t(200), None, None),
        ("shadow LULD", t(300), 93.0, 107.0),
        ("shadow LULD", t(1_000), 88.0, 112.0),
        ("shadow LULD", t(1_001), 95.0, 105.0),
    ]


def test_dashboard_queries_luld_band_downsampled_keeps_extremes_and_edges(
    seeded: tuple[Store, Seeded],
) -> None:
    store, _ = seeded
    frame = _run(
        store,
        "chart_underlying_luld_band",
        underlying="AAPL",
        start=S,
        end=E,
        bucket_ns=3_600 * SEC,
    )
    # one bucket: first, last, lowest lower, highest upper, and the band's gap edges
    assert frame["ts_ns"].to_list() == [S, t(200), t(300), t(1_000), t(1_001)]
    assert frame["lower"].min() == 88.0 and frame["upper"].max() == 112.0


MARKERS_ALL = {
    (t(-100), t(50), "alert"),
    (t(100), t(400), "alert"),
    (t(3_000), E, "alert"),
    (t(695), t(760), "feed_gap"),
    (t(900), t(930), "feed_gap"),
    (t(1_200), None, "feed_gap"),
    (t(3_494), E, "feed_gap"),
    (t(500), None, "multiplier_change"),
    (t(1_400), t(1_600), "depeg"),
    (t(2_000), t(2_300), "halt"),
    (t(2_100), None, "luld"),
    (t(2_200), t(2_210), "luld"),
}
MARKERS_SIMDEX = MARKERS_ALL - {
    (t(100), t(400), "alert"),
    (t(695), t(760), "feed_gap"),
    (t(900), t(930), "feed_gap"),
    (t(2_100), None, "luld"),
}


@pytest.mark.parametrize(("venue", "expected"), [(None, MARKERS_ALL), ("simdex", MARKERS_SIMDEX)])
def test_dashboard_queries_markers(
    seeded: tuple[Store, Seeded], venue: str | None, expected: set[tuple[int, int | None, str]]
) -> None:
    store, _ = seeded
    frame = _run(store, "chart_underlying_markers", underlying="AAPL", venue=venue, start=S, end=E)
    assert frame.columns == ["ts_ns", "end_ns", "kind", "label"]
    assert set(frame.select("ts_ns", "end_ns", "kind").rows()) == expected
    assert frame.height == len(expected)
    labels = dict(zip(frame["kind"], frame["label"], strict=False))
    assert labels["multiplier_change"] == "AAPLx@simdex multiplier 1.0 -> 1.0033 (catalog)"
    assert labels["depeg"].startswith("USDC depeg: median -200.0 bps")
    assert labels["halt"] == "halted"


# ---------------------------------------------------------------- overview


def test_dashboard_queries_overview_heatmap_latest_fresh_basis(
    seeded: tuple[Store, Seeded],
) -> None:
    store, data = seeded
    frame = _run(store, "chart_overview_basis_heatmap", end=E)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in data.basis:
        if E - 900 * SEC <= r["ts_event"] < E:
            key = (r["underlying"], r["venue"])
            if key not in latest or r["ts_event"] > latest[key]["ts_event"]:
                latest[key] = r
    assert ("TSLA", "simx-a") not in latest  # its rows are older than 15 minutes
    got = {(row, col): (v, text) for row, col, v, text in frame.select(
        "row", "column", "value", "text").rows()}  # fmt: skip
    assert set(got) == set(latest) == {("AAPL", "simdex"), ("AAPL", "simx-a"), ("NVDA", "simx-b")}
    for key, r in latest.items():
        age = (E - r["ts_event"]) // SEC
        if r["basis_bps"] is None:
            assert got[key] == (None, f"n/a (ref stale) · regular · {age} s old")
        else:
            unit = f"{age} s old" if age < 60 else f"{age // 60} min old"
            assert got[key] == (
                r["basis_bps"],
                f"{r['basis_bps']:+.1f} bps · {r['session']} · {unit}",
            )


def test_dashboard_queries_overview_fx_latest_per_coin_and_source(
    seeded: tuple[Store, Seeded],
) -> None:
    store, _ = seeded
    frame = _run(store, "chart_overview_fx", end=t(1_450))  # 1_450 itself is excluded
    assert frame.select("currency", "source", "rate_usd", "stablecoin_depeg").rows() == [
        ("USDC", "fx1", 0.98, True),
        ("USDT", "fx1", 0.9, True),
    ]
    assert frame["median_off_peg_bps"].round(6).to_list() == [-200.0, -1_000.0]
    assert frame["age_s"].to_list() == [50.0, 50.0]


# ---------------------------------------------------------------- fragmentation


@pytest.mark.parametrize(
    ("bucket", "every"), [(10 * SEC, "1s"), (59 * SEC, "1s"), (60 * SEC, "1m"), (300 * SEC, "1m")]
)
@pytest.mark.parametrize(
    ("query", "columns"),
    [
        ("chart_fragmentation_hhi", {"by volume": "hhi_volume", "by depth": "hhi_depth"}),
        ("chart_fragmentation_ffi", {"by volume": "ffi_volume", "by depth": "ffi_depth"}),
        (
            "chart_fragmentation_dispersion",
            {"range": "mid_range_bps", "dispersion": "mid_dispersion_bps"},
        ),
    ],
)
def test_dashboard_queries_fragmentation_lines_pick_the_table_by_bucket(
    seeded: tuple[Store, Seeded], bucket: int, every: str, query: str, columns: dict[str, str]
) -> None:
    store, data = seeded
    got = _points(_run(store, query, underlying="AAPL", start=S, end=E, bucket_ns=bucket))
    expected = [
        (series, r["bucket_start"], r[column])
        for r in data.frag[every]
        for series, column in columns.items()
        if r[column] is not None
    ]
    _same(got, _minmax(expected, bucket))


@pytest.mark.parametrize(
    ("bucket", "every", "width"),
    [(5 * SEC, "1s", SEC), (59 * SEC, "1s", SEC), (600 * SEC, "1m", 60 * SEC)],
)
def test_dashboard_queries_fragmentation_locked_crossed_share_of_time(
    seeded: tuple[Store, Seeded], bucket: int, every: str, width: int
) -> None:
    store, data = seeded
    frame = _run(
        store, "chart_fragmentation_locked", underlying="AAPL", start=S, end=E, bucket_ns=bucket
    )
    expected: dict[tuple[str, int], float] = {}
    for series, column in [
        ("locked", "locked_ns"),
        ("crossed", "crossed_ns"),
        ("crossed net", "crossed_net_ns"),
    ]:
        rows = [
            (series, r["bucket_start"], 100.0 * r[column] / width, 1.0) for r in data.frag[every]
        ]
        expected |= _bucket_means(rows, bucket)
    _same(_points(frame), expected)
    assert frame.height == 3 * -(-3_600 * SEC // bucket)  # every bucket has rows


def test_dashboard_queries_fragmentation_volume_shares(seeded: tuple[Store, Seeded]) -> None:
    store, data = seeded
    bucket = 300 * SEC
    frame = _run(
        store,
        "chart_fragmentation_shares_volume",
        underlying="AAPL",
        start=S,
        end=E,
        bucket_ns=bucket,
    )
    volume: dict[tuple[str, int], float] = defaultdict(float)
    for r in data.trade_throughs:
        if S <= r["ts_event"] < E:
            volume[(r["venue"], (r["ts_event"] - S) // bucket)] += r["notional_usd"]
    buckets = {b for _, b in volume}
    expected: dict[tuple[str, int], float] = {}
    for b in buckets:
        total = sum(volume[(v, b)] for v in VENUES)
        expected |= {(v, S + b * bucket): 100 * volume[(v, b)] / total for v in VENUES}
    _same(_points(frame), expected)
    sums = frame.group_by("ts_ns").agg(pl.col("value").sum())["value"]
    assert all(abs(s - 100) < 1e-9 for s in sums)


def test_dashboard_queries_fragmentation_depth_and_depth_shares(
    seeded: tuple[Store, Seeded],
) -> None:
    store, data = seeded
    bucket = 120 * SEC
    summed: dict[tuple[str, int, int], float] = defaultdict(float)
    for r in data.depth:
        summed[(r["venue"], r["bps"], r["ts_event"])] += r["bid_depth_usd"] + r["ask_depth_usd"]
    for venue in (None, "simx-a"):
        frame = _run(
            store,
            "chart_fragmentation_depth",
            underlying="AAPL",
            venue=venue,
            start=S,
            end=E,
            bucket_ns=bucket,
        )
        expected = [
            (f"{v} ±{bps} bps", ts, value)
            for (v, bps, ts), value in summed.items()
            if venue in (None, v)
        ]
        _same(_points(frame), _minmax(expected, bucket))
    shares = _run(
        store,
        "chart_fragmentation_shares_depth",
        underlying="AAPL",
        start=S,
        end=E,
        bucket_ns=bucket,
    )
    per: dict[tuple[str, int], float] = defaultdict(float)
    for (v, bps, ts), value in summed.items():
        if bps == 50 and S <= ts < E:
            per[(v, (ts - S) // bucket)] += value
    expected_shares: dict[tuple[str, int], float] = {}
    for b in {b for _, b in per}:
        total = per[("simdex", b)] + per[("simx-a", b)]
        expected_shares |= {
            (v, S + b * bucket): 100 * per[(v, b)] / total for v in ("simdex", "simx-a")
        }
    _same(_points(shares), expected_shares)


# ---------------------------------------------------------------- best execution


def test_dashboard_queries_bestex_sweep_bars(seeded: tuple[Store, Seeded]) -> None:
    store, data = seeded
    frame = _run(store, "chart_bestex_sweep", underlying="AAPL", start=S, end=E)
    quotes = sorted((q["ts_event"], q["bid_px"], q["ask_px"]) for q in data.ref_quotes)
    cons: dict[float, list[float]] = defaultdict(list)
    best: dict[float, list[float]] = defaultdict(list)
    under: dict[float, list[float]] = defaultdict(list)
    for r in data.sweeps:
        ts, n = r["ts_event"], r["notional_usd"]
        if not (S <= ts < E and r["fillable"] and r["ref_mid_usd"] is not None):
            continue
        cons[n].append(r["token_vs_stock_gap_bps"])
        if r["fill_best_venue_usd"] is not None:
            d = 1 if r["side"] == "buy" else -1
            ref = r["ref_mid_usd"]
            best[n].append(d * (r["fill_best_venue_usd"] - ref) / ref * 1e4)
        before = [q for q in quotes if q[0] <= ts]
        if before and ts - before[-1][0] <= 60 * SEC:
            _, bid, ask = before[-1]
            under[n].append((ask - bid) / (ask + bid) * 1e4)
    expected = []
    for n, label in [(250.0, "$250"), (1_000.0, "$1k"), (5_000.0, "$5k")]:
        for series, values in [("consolidated", cons), ("best single venue", best)]:
            expected.append((series, label, sum(values[n]) / len(values[n])))
        expected.append(("underlying", label, sum(under[n]) / len(under[n])))
    got = frame.select("series", "category", "value").rows()
    # categories in notional order, series in a fixed order
    assert [(s, c) for s, c, _ in got] == [(s, c) for s, c, _ in expected]
    assert [v for *_, v in got] == pytest.approx([v for *_, v in expected], rel=1e-9)
    assert len(under[250.0]) < len(cons[250.0])  # some samples had no fresh quote


@pytest.mark.parametrize("venue", [None, "simx-b"])
def test_dashboard_queries_bestex_realized_and_trade_through(
    seeded: tuple[Store, Seeded], venue: str | None
) -> None:
    store, data = seeded
    bucket = 600 * SEC
    params = {"underlying": "AAPL", "venue": venue, "start": S, "end": E, "bucket_ns": bucket}
    realized = _run(store, "chart_bestex_realized", **params)
    rows = []
    for r in data.execution:
        if venue in (None, r["venue"]):
            for h in ("15s", "1m"):
                if (value := r[f"realized_spread_{h}_bps"]) is not None:
                    rows.append((f"{r['venue']} {h}", r["ts_event"], value, r["size_shares"]))
    _same(_points(realized), _bucket_means(rows, bucket))
    through = _run(store, "chart_bestex_trade_through", **params)
    rate_rows = []
    for r in data.trade_throughs:
        if r["traded_through"] is not None and venue in (None, r["venue"]):
            hit = 100.0 if r["traded_through"] else 0.0
            rate_rows += [(r["venue"], r["ts_event"], hit, 1.0)]
            rate_rows += [("all venues", r["ts_event"], hit, 1.0)]
    _same(_points(through), _bucket_means(rate_rows, bucket))


@pytest.mark.parametrize(
    ("start", "end", "venue", "days"),
    [
        (S, E, None, [date(2025, 10, 9)]),  # 04:53-05:53 ET
        (S, E, "simdex", [date(2025, 10, 9)]),
        # 2025-10-10 03:00-05:00 UTC = 10-09 23:00 to 10-10 01:00 ET
        (1_760_065_200 * SEC, 1_760_072_400 * SEC, None, [date(2025, 10, 10), date(2025, 10, 9)]),
    ],
)
def test_dashboard_queries_bestex_scorecard_et_days(
    seeded: tuple[Store, Seeded], start: int, end: int, venue: str | None, days: list[date]
) -> None:
    store, data = seeded
    frame = _run(
        store, "chart_bestex_scorecard", underlying="AAPL", venue=venue, start=start, end=end
    )
    labels = {0: "< $250", 250: "$250-1k", 5_000: "$5k-10k"}
    expected = sorted(
        (
            (r["day"], r["venue"], labels[r["notional_bucket"]], r["trades"])
            for r in data.scorecard
            if r["underlying"] == "AAPL" and r["day"] in days and venue in (None, r["venue"])
        ),
        key=lambda x: (-x[0].toordinal(), [0, 250, 5_000][list(labels.values()).index(x[2])], x[1]),
    )
    assert frame.select("day", "venue", "bucket", "trades").rows() == expected


# ---------------------------------------------------------------- the specs


KIND_COLUMNS = {
    "lines": ["series", "ts_ns", "value"],
    "area": ["series", "ts_ns", "value"],
    "bars": ["series", "category", "value"],
}


@pytest.mark.parametrize("name", ["underlying", "fragmentation", "bestex"])
def test_dashboard_queries_specs_load_and_every_query_returns_rows(
    seeded: tuple[Store, Seeded], name: str
) -> None:
    store, _ = seeded
    dash = load_dashboard(content_dir("dashboards") / f"{name}.toml")
    given = {"underlying": "AAPL", "venue": None, "start": S, "end": E, "bucket_ns": 60 * SEC}
    for panel in dash.spec.panel:
        assert panel.query is not None
        frame = _run(store, panel.query, **given)
        if panel.chart in KIND_COLUMNS:
            assert frame.columns[:3] == KIND_COLUMNS[panel.chart], panel.query
        assert frame.height > 0, panel.query
        for extra, columns in [
            (panel.band_query, ["series", "ts_ns", "lower", "upper"]),
            (panel.markers_query, ["ts_ns", "end_ns", "kind", "label"]),
        ]:
            if extra is not None:
                layer = _run(store, extra, **given)
                assert layer.columns == columns and layer.height > 0, extra


def test_dashboard_queries_overview_columns(seeded: tuple[Store, Seeded]) -> None:
    store, _ = seeded
    heat = _run(store, "chart_overview_basis_heatmap", end=E)
    assert heat.columns[:4] == ["row", "column", "value", "text"]
    fx = _run(store, "chart_overview_fx", end=E)
    assert fx.height == 2 and fx.columns[:2] == ["currency", "source"]


def test_dashboard_queries_use_only_contract_params() -> None:
    folder = Path(content_dir("sql")) / "queries"
    allowed = {"underlying", "venue", "start", "end", "bucket_ns"}
    prefixes = ("chart_overview_", "chart_underlying_", "chart_fragmentation_", "chart_bestex_")
    names = [p for prefix in prefixes for p in folder.glob(f"{prefix}*.sql")]
    assert len(names) >= 16
    for path in names:
        assert query_params(path.read_text()) <= allowed, path.name
