"""The depth job on real DuckDB files, behind the real writer.

Hand-checked rows for a tiny book and pool; live steps (seeded chunks, a late update, a
rewind) equal one backfill and a backfill that starts mid-span from the books' last
snapshots; a crash inside the write leaves tables, seed and state untouched.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.bus import InProcessBus, Subscription
from divergence.catalog import Catalog
from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.errors import BadRequestError, StoreError
from divergence.events import BookUpdate, Event, FxRate, Heartbeat, Level, PoolState, Quote
from divergence.jobs.depth_inputs import (
    LOG_TICK,
    POOL_ROWS_SCHEMA,
    compute_pool_curves,
    samples_frame,
    tick_bounds,
)
from divergence.jobs.depth_job import DepthJob, DepthJobParams, run_backfill
from divergence.runtime import sync_catalog_tables
from divergence.settings import BasisSettings, WriterSettings
from divergence.store.db import AsyncStore, Store
from divergence.store.writer import EventWriter

S = NS_PER_SECOND
MS = NS_PER_MS
BASIS = BasisSettings()
CLOSE: dict[str, Any] = {"check_exact": False, "rel_tol": 1e-12, "abs_tol": 1e-9}
TABLES = {
    "book_depth_1s": ["ts_event", "venue", "instrument_id", "bps"],
    "sweep_costs_1m": ["ts_event", "underlying", "side", "notional_usd"],
}
K = 1.0033  # simdex and simx-b multiplier since 2025-08-11 (catalog)
T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET, regular


def _d(value: float | str) -> Decimal:
    return Decimal(str(value))


def book(
    t: int,
    instrument_id: str,
    seq: int,
    bids: Sequence[tuple[float, float]],
    asks: Sequence[tuple[float, float]],
    *,
    snapshot: bool = False,
    recv: int | None = None,
) -> BookUpdate:
    venue = instrument_id.split("@")[1]
    return BookUpdate(
        ts_event=t, ts_recv=recv if recv is not None else t + MS, venue=venue,
        instrument_id=instrument_id, symbol=instrument_id.split("@")[0], is_snapshot=snapshot,
        sequence=seq, bids=tuple(Level(_d(p), _d(q)) for p, q in bids),
        asks=tuple(Level(_d(p), _d(q)) for p, q in asks),
    )  # fmt: skip


def pool(t: int, base_tokens: Decimal, quote_usdc: Decimal, fee_bps: str = "30") -> PoolState:
    return PoolState(
        ts_event=t, ts_recv=t + MS, venue="simdex", instrument_id="AAPLx@simdex",
        symbol="AAPLx/USDC", pool="AAPLx-USDC", reserve_base=base_tokens,
        reserve_quote=quote_usdc, price=quote_usdc / base_tokens, liquidity=None,
        fee_bps=_d(fee_bps),
    )  # fmt: skip


def ref(t: int, bid: str, ask: str) -> Quote:
    return Quote(
        ts_event=t, ts_recv=t + MS, venue="sim-sip", instrument_id="AAPL@sim-sip",
        symbol="AAPL", bid_px=_d(bid), bid_sz=_d("100"), ask_px=_d(ask), ask_sz=_d("100"),
    )  # fmt: skip


def rate(t: int, currency: str, value: str) -> FxRate:
    return FxRate(ts_event=t, ts_recv=t + MS, venue="sim-fx", currency=currency, rate_usd=_d(value))


def beats(t: int) -> list[Event]:
    venues = ("sim-sip", "sim-fx", "simx-a", "simx-b", "simdex")
    return [Heartbeat(ts_event=t, ts_recv=t + MS, venue=v) for v in venues]


@dataclass
class Pipeline:
    """A real store, writer and depth job on one DuckDB file."""

    astore: AsyncStore
    bus: InProcessBus
    writer_task: asyncio.Task[None]
    flushed: Subscription
    job: DepthJob

    @classmethod
    async def open(cls, path: Path, catalog: Catalog, params: DepthJobParams) -> Pipeline:
        store = Store(path)
        store.migrate()
        sync_catalog_tables(store, catalog)
        astore = AsyncStore(store)
        bus = InProcessBus()
        writer = EventWriter(astore, bus, WriterSettings(flush_rows=100_000, flush_ms=5))
        flushed = bus.subscribe("flushed")
        task = asyncio.create_task(writer.run())
        await asyncio.wait_for(writer.ready.wait(), 10)
        job = DepthJob(astore, bus, catalog, params, basis=BASIS)
        return cls(astore, bus, task, flushed, job)

    async def feed(self, events: Sequence[Event]) -> None:
        await self.bus.publish("events", list(events))
        await asyncio.wait_for(self.flushed.get(), 10)

    async def table(self, name: str) -> pl.DataFrame:
        order = TABLES.get(name, ["venue", "instrument_id", "side", "level"])
        return (await self.astore.query(f"SELECT * FROM {name}")).sort(order)

    async def tables(self) -> dict[str, pl.DataFrame]:
        return {name: await self.table(name) for name in [*TABLES, "book_state_seed"]}

    async def state(self) -> pl.DataFrame:
        return await self.astore.query("SELECT job, watermark_ns, seq FROM job_state")

    async def backfill(self, catalog: Catalog, start: int, end: int) -> dict[str, int]:
        params = DepthJobParams(max_chunk_s=60)
        return await self.astore.write(
            lambda s: run_backfill(s, catalog, params, basis=BASIS, start_ns=start, end_ns=end)
        )

    async def close(self) -> None:
        self.writer_task.cancel()
        await asyncio.gather(self.writer_task, return_exceptions=True)
        self.astore.close()


# -- hand-checked rows ------------------------------------------------------------------
BASE_TOKENS = Decimal(10_000) / Decimal("1.0033")  # x = 10,000 shares after k
HAND: list[Event] = [
    rate(T0 - 5 * S, "USDC", "1"),
    ref(T0 - S, "99.95", "100.05"),  # mid 100, 1 s old at T0 (regular: limit 2 s)
    book(
        T0 - 500 * MS,
        "AAPLx@simx-a",
        1,
        [(99.9, 1), (99.0, 2)],
        [(100.1, 3), (100.5, 4), (101.5, 5)],
        snapshot=True,
    ),
    pool(T0 - 400 * MS, BASE_TOKENS, Decimal(1_000_000)),  # y = $1,000,000, p = $100
]


async def test_depth_job_hand_checked_book_and_pool(tmp_path: Path, catalog: Catalog) -> None:
    pipe = await Pipeline.open(tmp_path / "hand.duckdb", catalog, DepthJobParams())
    try:
        await pipe.feed(HAND)
        written = await pipe.backfill(catalog, T0, T0 + 1)  # the one sample at T0
        depth, sweeps = await pipe.table("book_depth_1s"), await pipe.table("sweep_costs_1m")
    finally:
        await pipe.close()
    # 5 bps x (book + pool); 2 sides x 7 Rule 605 notionals for AAPL.
    assert written == {"book_depth_1s": 10, "sweep_costs_1m": 14}
    # Book (USD, k = 1), m = (99.9 + 100.1)/2 = 100: the docs/metrics.md table.
    # ask: 100.1*3 = 300.3 (<= 100.1 for X = 10), + 100.5*4 = 402 (X >= 50), + 101.5*5 =
    # 507.5 (X = 200); bid: 99.9 (X < 100), + 99.0*2 = 198 at X = 100 (on the edge).
    b = depth.filter(pl.col("source_kind") == "book")
    expected_book = pl.DataFrame(
        {
            "bps": [10, 25, 50, 100, 200],
            "mid_usd": [100.0] * 5,
            "bid_depth_usd": [99.9, 99.9, 99.9, 297.9, 297.9],
            "ask_depth_usd": [300.3, 300.3, 702.3, 702.3, 1209.8],
            "bid_complete": [True, True, True, False, False],
            "ask_complete": [True, True, True, True, False],
        },
        schema_overrides={"bps": pl.Int32},
    )
    assert_frame_equal(b.select(expected_book.columns), expected_book, **CLOSE)
    # Pool (USDC at $1, k = 1.0033): x = 10,000 shares, y = $1,000,000, p = 100, f = 0.3%:
    # ask = y*(sqrt(1 + d) - 1), bid = x*(1/sqrt(1 - d) - 1)*p, with fee: / (1 - f).
    p = depth.filter(pl.col("source_kind") == "pool")
    d = [x / 1e4 for x in (10, 25, 50, 100, 200)]
    ask = [1e6 * (math.sqrt(1 + v) - 1) for v in d]
    bid = [1e4 * (1 / math.sqrt(1 - v) - 1) * 100 for v in d]
    assert p["pool_kind"].to_list() == ["constant_product"] * 5
    assert p["mid_usd"].to_list() == pytest.approx([100.0] * 5, rel=1e-12)
    assert p["ask_depth_usd"].to_list() == pytest.approx(ask, rel=1e-12)
    assert p["bid_depth_usd"].to_list() == pytest.approx(bid, rel=1e-12)
    assert p["ask_depth_with_fee_usd"].to_list() == pytest.approx(
        [a / 0.997 for a in ask], rel=1e-12
    )
    assert p["ask_depth_usd"][3] == pytest.approx(4987.562112, rel=1e-9)  # metrics.md §3.3
    # Sweeps: buy $250: the book ask at 100.1*(1 + 10 bps) = 100.2001 per share is cheaper
    # than the pool's marginal 100/0.997 = 100.3009, and 3 shares cover $300.6 > $250.
    buy = sweeps.filter((pl.col("side") == "buy") & (pl.col("notional_usd") == 250.0))
    assert buy["fill_consolidated_usd"][0] == pytest.approx(100.2001, rel=1e-12)
    assert buy["best_venue"][0] == "simx-a"
    assert buy["cost_of_fragmentation_bps"][0] == 0.0
    assert buy["ref_mid_usd"][0] == pytest.approx(100.0, rel=1e-12)
    assert buy["token_vs_stock_gap_bps"][0] == pytest.approx(20.01, rel=1e-9)  # 0.2001 %
    # Sell $250: the bid 99.9*(1 - 10 bps) = 99.8001 pays $99.8001 for 1 share; the pool
    # (marginal 100*0.997 = 99.7 > 99.0*0.999) pays the other 150.1999: u shares in,
    # y*u*(1-f)/(x + u*(1-f)) = 150.1999 -> u = 150.1999*x/(y - 150.1999)/(1 - f).
    sell = sweeps.filter((pl.col("side") == "sell") & (pl.col("notional_usd") == 250.0))
    u = 150.1999 * 1e4 / (1e6 - 150.1999) / 0.997
    assert sell["fill_consolidated_usd"][0] == pytest.approx(250 / (1 + u), rel=1e-10)
    # Alone, simx-a needs 1 share at 99.8001 and 150.1999/98.901 at 99.0*0.999 (fill
    # 99.26); the pool alone takes u = 250*x/(y - 250)/(1 - f) shares (fill 99.68): best.
    u_pool = 250 * 1e4 / (1e6 - 250) / 0.997
    assert sell["best_venue"][0] == "simdex"
    assert sell["fill_best_venue_usd"][0] == pytest.approx(250 / u_pool, rel=1e-10)
    assert sell["fillable"][0] is True


def test_tick_bounds_place_the_price_in_its_tick_both_orientations() -> None:
    # Stock = token0 with 12 more decimals than its quote: p = 1e12 * 1.0001^(tick + 0.4).
    # Stock = token1: p = 1e-12 / 1.0001^(tick + 0.4), range [1e-12/1.0001^(t+1), 1e-12/1.0001^t].
    tick = 46_054  # 1.0001^46054 ~ 100.0
    up = 1e12 * 1.0001 ** (tick + 0.4)
    down = 1e-12 / 1.0001 ** (tick + 0.4)
    # 100 at tick 46054 fits both (100 = 1e4 / 100): ambiguous, so unknown as well.
    frame = pl.DataFrame({"price": [up, down, 5.0, 100.0], "tick": [tick, tick, tick, tick]})
    lower, upper = tick_bounds(pl.col("price"), pl.col("tick"))
    out = frame.select(lower.alias("lo"), upper.alias("hi"))
    expected_lo = [1e12 * 1.0001**tick, 1e-12 / 1.0001 ** (tick + 1)]
    expected_hi = [1e12 * 1.0001 ** (tick + 1), 1e-12 / 1.0001**tick]
    assert out["lo"].to_list()[:2] == pytest.approx(expected_lo, rel=1e-10)
    assert out["hi"].to_list()[:2] == pytest.approx(expected_hi, rel=1e-10)
    assert out.row(2) == (None, None)  # 5.0 fits neither orientation: range unknown
    assert out.row(3) == (None, None)
    assert math.isclose(LOG_TICK, 4.342727686266e-05, rel_tol=1e-9)


def test_compute_pool_curves_concentrated_state_to_usd_per_share() -> None:
    # A v3 state: virtual reserves 10,000 tokens / 1,500,000 USDC (L = sqrt(x*y) =
    # 122,474.49, pool units), p = 150 USDC per token, tick 50108 (1.0001^50108 = 149.98713
    # <= 150 < 1.0001^50109 = 150.00213). USDC at 0.99, k = 2 shares per token:
    # price = 150*0.99/2 = 74.25, L = sqrt(1.5e10)*sqrt(0.99*2), bounds = 1.0001^tick*0.495.
    # The older state is 50 s old at the first sample: absent with a 40 s max age.
    t = T0
    pools = pl.LazyFrame(
        {
            "ts_event": [t - 200 * S, t],
            "venue": ["uni", "uni"],
            "instrument_id": ["AAPLx@uni"] * 2,
            "price": [90.0, 150.0],
            "reserve_base": [10_000.0, 10_000.0],
            "reserve_quote": [1.5e6, 1.5e6],
            "liquidity": [7.0, 7.0],
            "tick": [None, 50_108],
            "fee_bps": [5.0, 5.0],
            "ingest_seq": [1, 2],
        },
        schema=POOL_ROWS_SCHEMA,
    )
    conversion = pl.LazyFrame(
        {
            "ts_event": [t - 150 * S, t],
            "instrument_id": ["AAPLx@uni"] * 2,
            "underlying": ["AAPL"] * 2,
            "taker_fee_bps": [0.0, 0.0],
            "fx_rate": [0.99, 0.99],
            "k": [2.0, 2.0],
        },
        schema_overrides={"ts_event": pl.Datetime("ns")},
    )
    samples = samples_frame([t - 150 * S, t])
    out = compute_pool_curves(pools, samples, conversion, max_age_ns=40 * S).collect()
    assert out["ts_event"].cast(pl.Int64).to_list() == [t]
    row = out.row(0, named=True)
    assert row["kind"] == "concentrated"
    assert row["price"] == pytest.approx(74.25, rel=1e-12)
    assert row["liquidity"] == pytest.approx(math.sqrt(1.5e10) * math.sqrt(1.98), rel=1e-12)
    assert row["reserve_base"] == pytest.approx(20_000.0, rel=1e-12)  # shares
    assert row["reserve_quote"] == pytest.approx(1_485_000.0, rel=1e-12)  # USD
    assert row["price_lower"] == pytest.approx(1.0001**50_108 * 0.495, rel=1e-10)
    assert row["price_upper"] == pytest.approx(1.0001**50_109 * 0.495, rel=1e-10)


# -- live = backfill ----------------------------------------------------------------------
def _market(start_s: int, end_s: int) -> list[Event]:
    """Per second a reference quote; books on simx-a (USD) and simx-b (USDT, k = 1.0033)
    updated every 700 ms (simx-b snapshots again at 150 s); a pool every 20 s; rates
    every 10 s."""
    events: list[Event] = []
    for k in range(start_s, end_s):
        t = T0 + k * S
        events.append(ref(t, f"{100 + (k % 5) * 0.01:.2f}", f"{100.1 + (k % 5) * 0.01:.2f}"))
        if k % 10 == 0:
            events += [rate(t, "USDT", "1.0002"), rate(t, "USDC", "0.9998")]
        if k % 20 == 0:
            events.append(pool(t + 300 * MS, BASE_TOKENS + k, Decimal(1_000_000) + 37 * k))
    for k in range(start_s * 10, end_s * 10, 7):
        t, w = T0 + k * 100 * MS, (k % 9) * 0.01
        a_bids = [(99.9 - w, 1 + k % 3)] + ([(99.5, 0)] if k % 4 == 0 else [(99.5, 2)])
        events.append(book(t, "AAPLx@simx-a", k, a_bids, [(100.1 + w, 2 + k % 5)]))
        snap = k // 10 == 150
        asks = [(100.3 + w, 1.5), (101.0, 3)] if snap else [(100.3 + w, 1 + k % 4)]
        events.append(book(t + 50 * MS, "AAPLx@simx-b", k, [(99.7 - w, 2)], asks, snapshot=snap))
    return sorted(events, key=lambda e: e.ts_event)


def _opening() -> list[Event]:
    return [
        book(T0, "AAPLx@simx-a", 0, [(99.8, 5), (99.5, 2), (99.0, 4)],
             [(100.2, 5), (100.6, 3), (101.2, 8)], snapshot=True),
        book(T0, "AAPLx@simx-b", 0, [(99.6, 5), (99.2, 7)], [(100.4, 5), (100.9, 2)],
             snapshot=True),
    ]  # fmt: skip


FLUSHES: list[list[Event]] = [
    [*_opening(), *_market(0, 40), *beats(T0 + 40 * S)],
    [*_market(40, 100), *beats(T0 + 100 * S)],
    [  # a simx-a delta from 70 s ago arrives late: the job rewinds and rebuilds the books
        book(T0 + 30 * S + 20 * MS, "AAPLx@simx-a", 99_999, [(99.95, 4)], [], recv=T0 + 101 * S),
        *_market(100, 200),
        *beats(T0 + 200 * S),
    ],
    [*_market(200, 250), *beats(T0 + 250 * S)],
]
END = T0 + 250 * S  # samples at t < W = T0 + 250 s are final


async def _run_live(path: Path, catalog: Catalog) -> Pipeline:
    live = await Pipeline.open(path, catalog, DepthJobParams(max_chunk_s=60))
    for flush in FLUSHES:
        await live.feed(flush)
        await live.job.step()
    return live


def _delete_all(store: Store, *, table: str) -> None:
    store.execute(f"DELETE FROM {table}")


async def _assert_backfill_equals(live: Pipeline, catalog: Catalog, start: int) -> None:
    before = await live.tables()
    for name in TABLES:
        await live.astore.write(partial(_delete_all, table=name))
    written = await live.backfill(catalog, start, END)
    after = await live.tables()
    for name in TABLES:
        expected = before[name].filter(pl.col("ts_event").cast(pl.Int64) >= start)
        assert_frame_equal(after[name], expected, **CLOSE)
        assert written[name] == expected.height
    assert_frame_equal(after["book_state_seed"], before["book_state_seed"])  # not touched


async def test_depth_job_live_steps_equal_backfills(tmp_path: Path, catalog: Catalog) -> None:
    live = await _run_live(tmp_path / "live.duckdb", catalog)
    try:
        stats = live.job.stats_dict()
        state = await live.state()
        depth = await live.table("book_depth_1s")
        # 250 samples (T0 .. T0 + 249 s) x 5 bps for simx-a and simx-b; the pool's first
        # state is at T0 + 0.3 s, so it misses the sample at T0: 249 x 5.
        assert depth.group_by("venue").len().sort("venue").to_dicts() == [
            {"venue": "simdex", "len": 1245},
            {"venue": "simx-a", "len": 1250},
            {"venue": "simx-b", "len": 1250},
        ]
        assert (await live.table("sweep_costs_1m")).height == 5 * 2 * 7  # T0 .. T0 + 4 min
        await _assert_backfill_equals(live, catalog, T0)
        # Mid-span: the seed is rebuilt from simx-a's opening snapshot + 1,500 deltas
        # (and the late one) and from simx-b's snapshot at 150 s.
        await _assert_backfill_equals(live, catalog, T0 + 170 * S + 300 * MS)
    finally:
        await live.close()
    assert stats["rewinds"] == 2  # the first run, and the late delta
    assert state.rows() == [("depth", END, state["seq"][0])]


async def test_depth_job_crash_in_commit_leaves_tables_seed_and_state(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog, DepthJobParams(max_chunk_s=60))
    try:
        for flush in FLUSHES[:2]:
            await live.feed(flush)
            await live.job.step()
        tables, state = await live.tables(), await live.state()
        await live.feed(FLUSHES[2])
        original = Store.append

        def failing(store: Store, table: str, frame: pl.DataFrame) -> None:
            if table == "book_state_seed":  # after both tables were rewritten
                raise StoreError("disk full")
            original(store, table, frame)

        monkeypatch.setattr(Store, "append", failing)
        with pytest.raises(StoreError, match="disk full"):
            await live.job.step()
        assert_frame_equal(await live.state(), state)
        for name, frame in (await live.tables()).items():
            assert_frame_equal(frame, tables[name], **CLOSE)
        monkeypatch.setattr(Store, "append", original)
        assert await live.job.step() > 0  # the same chunks again, now committed
        await live.feed(FLUSHES[3])
        await live.job.step()
        await _assert_backfill_equals(live, catalog, T0)
    finally:
        await live.close()


def test_depth_backfill_refuses_an_empty_span(store: Store, catalog: Catalog) -> None:
    with pytest.raises(BadRequestError, match=r"end \(5\) must be after start \(5\)"):
        run_backfill(store, catalog, DepthJobParams(), basis=BASIS, start_ns=5, end_ns=5)
