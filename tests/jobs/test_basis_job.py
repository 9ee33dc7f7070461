"""The basis job on real DuckDB files, fed through the real EventWriter.

The central property: stepping the live job after every flush, late arrivals included,
writes exactly the rows a backfill over a fresh database of the same events writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.bus import InProcessBus, Subscription
from divergence.catalog import Catalog
from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.events import Event, FxRate, Heartbeat, PoolState, Quote, SessionState
from divergence.jobs.basis_job import BasisJob, context_watermark, load_job_state, run_backfill
from divergence.runtime import sync_catalog_tables
from divergence.settings import BasisSettings, WriterSettings
from divergence.store.db import AsyncStore, Store
from divergence.store.writer import EventWriter

T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET
S = NS_PER_SECOND
MS = NS_PER_MS
HOUR = 3_600 * S
SETTINGS = BasisSettings()


def _d(value: str) -> Decimal:
    return Decimal(value)


def ref(t: int, bid: str, ask: str) -> Quote:
    return Quote(
        ts_event=t,
        ts_recv=t + MS,
        venue="sim-sip",
        instrument_id="AAPL@sim-sip",
        symbol="AAPL",
        bid_px=_d(bid),
        bid_sz=_d("100"),
        ask_px=_d(ask),
        ask_sz=_d("100"),
    )


def token(t: int, instrument_id: str, bid: str, ask: str, *, recv: int | None = None) -> Quote:
    return Quote(
        ts_event=t,
        ts_recv=recv if recv is not None else t + MS,
        venue=instrument_id.split("@")[1],
        instrument_id=instrument_id,
        symbol=instrument_id.split("@")[0],
        bid_px=_d(bid),
        bid_sz=_d("3"),
        ask_px=_d(ask),
        ask_sz=_d("4"),
    )


def pool(t: int, price: str) -> PoolState:
    return PoolState(
        ts_event=t,
        ts_recv=t + MS,
        venue="simdex",
        instrument_id="AAPLx@simdex",
        symbol="AAPLx/USDC",
        pool="AAPLx-USDC",
        reserve_base=None,
        reserve_quote=None,
        price=_d(price),
        liquidity=None,
        fee_bps=_d("30"),
    )


def rate(t: int, currency: str, value: str) -> FxRate:
    return FxRate(ts_event=t, ts_recv=t + MS, venue="sim-fx", currency=currency, rate_usd=_d(value))


def session(t: int, name: str) -> SessionState:
    return SessionState(
        ts_event=t,
        ts_recv=t + MS,
        venue="sim-sip",
        underlying="AAPL",
        session=name,  # type: ignore[arg-type]
    )


def beat(t: int, venue: str) -> Heartbeat:
    return Heartbeat(ts_event=t, ts_recv=t + MS, venue=venue)


# Flushes in arrival order. W is the watermark after each flush (min of sip and fx clocks).
FLUSHES: list[list[Event]] = [
    [  # W = T0: the tokens after T0 must wait
        session(T0 - 10 * S, "regular"),
        ref(T0, "244.99", "245.01"),
        rate(T0, "USDT", "1.0002"),
        rate(T0, "USDC", "0.9998"),
        token(T0 + 100 * MS, "AAPLx@simx-a", "246.45", "246.55"),
        token(T0 + 200 * MS, "AAPLx@simx-b", "246.80", "247.00"),
    ],
    [  # W = T0 + 1 s
        ref(T0 + S, "245.09", "245.11"),
        rate(T0 + S, "USDT", "1.0001"),
        rate(T0 + S, "USDC", "0.9997"),
        token(T0 + 1_500 * MS, "AAPLx@simx-a", "245.40", "245.60"),
    ],
    [  # W = T0 + 2 s; a late quote from T0 + 300 ms arrives below the old watermark
        token(T0 + 300 * MS, "AAPLx@simx-a", "246.00", "246.20", recv=T0 + 2 * S),
        pool(T0 + 900 * MS, "246.10"),
        ref(T0 + 2 * S, "245.19", "245.21"),
        beat(T0 + 2 * S, "sim-fx"),
    ],
    [  # W = T0 + 5 s: T0 + 4 s is 2 s after the reference (live), T0 + 4.5 s is stale
        token(T0 + 4 * S, "AAPLx@simx-a", "245.10", "245.30"),
        token(T0 + 4_500 * MS, "AAPLx@simx-b", "245.10", "245.30"),
        ref(T0 + 5 * S, "245.29", "245.31"),
        rate(T0 + 5 * S, "USDT", "1.0000"),
        rate(T0 + 5 * S, "USDC", "1.0000"),
    ],
    [  # W = T0 + 8 s: the market closes at T0 + 6 s
        session(T0 + 6 * S, "closed"),
        token(T0 + 7 * S, "AAPLx@simx-a", "244.00", "244.40"),
        beat(T0 + 8 * S, "sim-sip"),
        beat(T0 + 8 * S, "sim-fx"),
    ],
    [  # two hours later: the reference is hours old, found again without a long scan
        token(T0 + 2 * HOUR, "AAPLx@simx-a", "240.00", "240.40"),
        pool(T0 + 2 * HOUR + S, "239.50"),
        rate(T0 + 2 * HOUR, "USDC", "0.8774"),
        beat(T0 + 2 * HOUR + 2 * S, "sim-sip"),
        beat(T0 + 2 * HOUR + 2 * S, "sim-fx"),
    ],
]


@dataclass
class Pipeline:
    """A real store, bus, writer and basis job on one DuckDB file."""

    astore: AsyncStore
    bus: InProcessBus
    writer_task: asyncio.Task[None]
    flushed: Subscription
    job: BasisJob

    @classmethod
    async def open(cls, path: Path, catalog: Catalog) -> Pipeline:
        store = Store(path)
        store.migrate()
        sync_catalog_tables(store, catalog)
        astore = AsyncStore(store)
        bus = InProcessBus()
        writer = EventWriter(astore, bus, WriterSettings(flush_rows=100_000, flush_ms=5))
        flushed = bus.subscribe("flushed")
        task = asyncio.create_task(writer.run())
        await asyncio.wait_for(writer.ready.wait(), 10)
        return cls(astore, bus, task, flushed, BasisJob(astore, bus, catalog, SETTINGS))

    async def feed(self, events: Sequence[Event]) -> None:
        """Publish one batch and wait until the writer has committed it."""
        await self.bus.publish("events", list(events))
        await asyncio.wait_for(self.flushed.get(), 10)

    async def basis(self) -> pl.DataFrame:
        return await self.astore.query("SELECT * FROM basis")

    async def close(self) -> None:
        self.writer_task.cancel()
        await asyncio.gather(self.writer_task, return_exceptions=True)
        self.astore.close()


def _comparable(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.drop("ts_ingest", "source_seq").sort("ts_event", "instrument_id")


async def _backfilled(path: Path, catalog: Catalog, events: list[Event]) -> pl.DataFrame:
    fresh = await Pipeline.open(path, catalog)
    try:
        await fresh.feed(events)
        written = await fresh.astore.write(
            lambda s: run_backfill(s, catalog, SETTINGS, start_ns=T0 - HOUR, end_ns=T0 + 3 * HOUR)
        )
        rows = await fresh.basis()
    finally:
        await fresh.close()
    assert written == rows.height
    return rows


def _token_count(flushes: list[list[Event]]) -> int:
    kinds = [e for f in flushes for e in f if isinstance(e, Quote | PoolState)]
    return sum(1 for e in kinds if "x@" in e.instrument_id)


async def test_basis_job_live_incremental_equals_backfill(tmp_path: Path, catalog: Catalog) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog)
    written = []
    try:
        for flush in FLUSHES:
            await live.feed(flush)
            written.append(await live.job.step())
        live_rows = await live.basis()
    finally:
        await live.close()
    # After flush 1 nothing is computable; after each later one, what W released.
    assert written == [0, 2, 3, 2, 1, 2]
    assert live_rows.height == _token_count(FLUSHES)
    assert set(live_rows["ref_state"]) == {"live", "stale", "closed"}
    events = [e for flush in FLUSHES for e in flush]
    backfill_rows = await _backfilled(tmp_path / "fresh.duckdb", catalog, events)
    assert_frame_equal(_comparable(live_rows), _comparable(backfill_rows))


async def test_basis_job_processes_each_token_quote_once(tmp_path: Path, catalog: Catalog) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog)
    try:
        for flush in FLUSHES:
            await live.feed(flush)
            await live.job.step()
            assert await live.job.step() == 0  # nothing new: nothing written again
        rows = await live.basis()
        seqs = await live.astore.query(
            "SELECT ingest_seq FROM quotes WHERE instrument_id LIKE '%x@%'"
            " UNION ALL SELECT ingest_seq FROM pool_states ORDER BY 1"
        )
    finally:
        await live.close()
    assert sorted(rows["source_seq"].to_list()) == seqs["ingest_seq"].to_list()


async def test_basis_job_resumes_after_restart(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "live.duckdb"
    first = await Pipeline.open(path, catalog)
    try:
        for flush in FLUSHES[:3]:
            await first.feed(flush)
            await first.job.step()
    finally:
        await first.close()
    second = await Pipeline.open(path, catalog)
    try:
        state = await second.astore.read(load_job_state)
        assert (state.watermark_ns, state.seq) == (T0 + 2 * S, 13)
        for flush in FLUSHES[3:]:
            await second.feed(flush)
            await second.job.step()
        live_rows = await second.basis()
    finally:
        await second.close()
    events = [e for flush in FLUSHES for e in flush]
    backfill_rows = await _backfilled(tmp_path / "fresh.duckdb", catalog, events)
    assert_frame_equal(_comparable(live_rows), _comparable(backfill_rows))


async def test_basis_job_row_matches_hand_formula(tmp_path: Path, catalog: Catalog) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog)
    try:
        for flush in FLUSHES[:2]:
            await live.feed(flush)
            await live.job.step()
        rows = await live.basis()
    finally:
        await live.close()
    row = rows.filter(pl.col("instrument_id") == "AAPLx@simx-b").row(0, named=True)
    # AAPLx@simx-b quotes in USDT, raw units: k = 1.0033 since 2025-08-11.
    mid_usd = (246.80 + 247.00) / 2 * 1.0002
    ref_mid = (244.99 + 245.01) / 2
    assert row["mid_usd"] == pytest.approx(mid_usd, abs=1e-9)
    # One fx source (sim-fx) is fewer than fx_min_sources: usable, but flagged "single".
    assert (row["multiplier"], row["fx_rate"], row["fx_state"]) == (1.0033, 1.0002, "single")
    assert (row["fx_sources"], row["fx_depeg"]) == (1, False)
    assert (row["ref_mid"], row["ref_age_ms"], row["ref_state"]) == (ref_mid, 200.0, "live")
    assert row["basis_bps"] == pytest.approx((mid_usd / (1.0033 * ref_mid) - 1) * 1e4, abs=1e-9)
    fee = 10 / 1e4
    prem = (246.80 * 1.0002 * (1 - fee) - 1.0033 * 245.01) / (1.0033 * 245.01)
    assert prem > 0
    assert row["exec_basis_bps"] == pytest.approx(prem * 1e4, abs=1e-9)
    assert (row["underlying"], row["quote_currency"], row["source_kind"]) == (
        "AAPL",
        "USDT",
        "quote",
    )


async def test_basis_job_run_publishes_new_rows(tmp_path: Path, catalog: Catalog) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog)
    published = live.bus.subscribe("basis")
    task = asyncio.create_task(live.job.run())
    try:
        await live.feed(FLUSHES[0])
        await live.feed(FLUSHES[1])
        frame = await asyncio.wait_for(published.get(), 10)
        stats = live.job.stats_dict()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await live.close()
    assert frame.select("ts_event", "instrument_id").rows() == [
        (datetime(2025, 9, 15, 14, 0, 0, 100_000), "AAPLx@simx-a"),
        (datetime(2025, 9, 15, 14, 0, 0, 200_000), "AAPLx@simx-b"),
    ]
    assert frame["basis_bps"][0] == pytest.approx((246.50 / 245.00 - 1) * 1e4, abs=1e-9)
    assert stats["rows_written"] == 2
    assert stats["last_watermark_ns"] == T0 + S


async def test_run_backfill_replaces_only_its_range(tmp_path: Path, catalog: Catalog) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog)
    try:
        for flush in FLUSHES:
            await live.feed(flush)
            await live.job.step()
        before = await live.basis()
        start, end = T0 + S, T0 + 5 * S
        again = await live.astore.write(
            lambda s: run_backfill(s, catalog, SETTINGS, start_ns=start, end_ns=end)
        )
        after = await live.basis()
    finally:
        await live.close()
    in_range = before.filter(pl.col("ts_event").cast(pl.Int64).is_between(start, end))
    assert again == in_range.height == 3
    assert_frame_equal(
        before.drop("ts_ingest").sort("source_seq"), after.drop("ts_ingest").sort("source_seq")
    )


def _clock(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"venue": pl.String, "ts_event_max": pl.Int64, "ts_recv_max": pl.Int64},
        orient="row",
    )


def test_context_watermark_is_min_of_active_context_venues() -> None:
    context = {"sim-sip", "sim-fx"}
    idle = 5 * S
    both = _clock([("sim-sip", 100, 10 * S), ("sim-fx", 90, 10 * S), ("simx-a", 200, 10 * S)])
    assert context_watermark(both, context_venues=context, idle_ns=idle) == 90
    fx_idle = _clock(
        [("sim-sip", 100, 10 * S), ("sim-fx", 90, 10 * S - idle - 1), ("simx-a", 200, 10 * S)]
    )
    assert context_watermark(fx_idle, context_venues=context, idle_ns=idle) == 100
    at_limit = _clock(
        [("sim-sip", 100, 10 * S), ("sim-fx", 90, 10 * S - idle), ("simx-a", 200, 10 * S)]
    )
    assert context_watermark(at_limit, context_venues=context, idle_ns=idle) == 90
    no_context = _clock([("simx-a", 200, 10 * S), ("simx-b", 150, 10 * S)])
    assert context_watermark(no_context, context_venues=context, idle_ns=idle) == 200
    assert context_watermark(_clock([]), context_venues=context, idle_ns=idle) is None
