"""The metrics job on real DuckDB files, behind the real writer and basis job.

The central property: stepping the live metrics job after every flush (late arrivals,
chunked catch-up and a crash included) leaves exactly the rows one backfill of the same
span writes, in every metric table and daily table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.bus import InProcessBus, Subscription
from divergence.catalog import Catalog
from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.errors import BadRequestError, StoreError
from divergence.events import Event, FxRate, Heartbeat, PoolState, Quote, Trade
from divergence.jobs.basis_job import BasisJob
from divergence.jobs.metrics_inputs import (
    TOKEN_TRADES_SCHEMA,
    MetricsInputs,
    compute_usd_trades,
    load_inputs,
)
from divergence.jobs.metrics_job import (
    MetricsJob,
    Window,
    commit_chunk,
    due_specs,
    run_backfill,
)
from divergence.metrics.fx import FX_SCHEMA
from divergence.metrics.premium import DAILY_PREMIUM_SCHEMA
from divergence.metrics.registry import DAILY_SPECS, METRIC_SPECS
from divergence.metrics.windowed import et_day_bounds
from divergence.runtime import sync_catalog_tables
from divergence.settings import BasisSettings, MetricsSettings, WriterSettings
from divergence.store.db import AsyncStore, Store
from divergence.store.writer import EventWriter

S = NS_PER_SECOND
MS = NS_PER_MS
MINUTE = 60 * S
BASIS = BasisSettings()
CLOSE: dict[str, Any] = {"check_exact": False, "rel_tol": 1e-12, "abs_tol": 1e-9}
"""Equal row for row; floats to the last bits (sums over groups may add in any order)."""
TABLE_ORDER = {s.name: (s.time_column, s.order) for s in METRIC_SPECS} | {
    d.name: ("day", d.order) for d in DAILY_SPECS
}


def _d(value: str) -> Decimal:
    return Decimal(value)


def ref(t: int, bid: str, ask: str) -> Quote:
    return Quote(
        ts_event=t, ts_recv=t + MS, venue="sim-sip", instrument_id="AAPL@sim-sip",
        symbol="AAPL", bid_px=_d(bid), bid_sz=_d("100"), ask_px=_d(ask), ask_sz=_d("100"),
    )  # fmt: skip


def token(t: int, instrument_id: str, bid: str, ask: str, *, recv: int | None = None) -> Quote:
    return Quote(
        ts_event=t, ts_recv=recv if recv is not None else t + MS,
        venue=instrument_id.split("@")[1], instrument_id=instrument_id,
        symbol=instrument_id.split("@")[0], bid_px=_d(bid), bid_sz=_d("3"), ask_px=_d(ask),
        ask_sz=_d("4"),
    )  # fmt: skip


def trade(
    t: int, instrument_id: str, price: str, size: str, side: str, *, recv: int | None = None
) -> Trade:
    return Trade(
        ts_event=t, ts_recv=recv if recv is not None else t + MS,
        venue=instrument_id.split("@")[1], instrument_id=instrument_id, symbol="AAPLx",
        price=_d(price), size=_d(size), side=side, trade_id=f"{instrument_id}-{t}",  # type: ignore[arg-type]
    )  # fmt: skip


def pool(t: int, price: str) -> PoolState:
    return PoolState(
        ts_event=t, ts_recv=t + MS, venue="simdex", instrument_id="AAPLx@simdex",
        symbol="AAPLx/USDC", pool="AAPLx-USDC", reserve_base=None, reserve_quote=None,
        price=_d(price), liquidity=None, fee_bps=_d("30"),
    )  # fmt: skip


def rate(t: int, currency: str, value: str) -> FxRate:
    return FxRate(ts_event=t, ts_recv=t + MS, venue="sim-fx", currency=currency, rate_usd=_d(value))


def beat(t: int, venue: str) -> Heartbeat:
    return Heartbeat(ts_event=t, ts_recv=t + MS, venue=venue)


@dataclass
class Pipeline:
    """A real store, writer, basis job and metrics job on one DuckDB file."""

    astore: AsyncStore
    bus: InProcessBus
    writer_task: asyncio.Task[None]
    flushed: Subscription
    basis_job: BasisJob
    metrics_job: MetricsJob

    @classmethod
    async def open(cls, path: Path, catalog: Catalog, settings: MetricsSettings) -> Pipeline:
        store = Store(path)
        store.migrate()
        sync_catalog_tables(store, catalog)
        astore = AsyncStore(store)
        bus = InProcessBus()
        writer = EventWriter(astore, bus, WriterSettings(flush_rows=100_000, flush_ms=5))
        flushed = bus.subscribe("flushed")
        task = asyncio.create_task(writer.run())
        await asyncio.wait_for(writer.ready.wait(), 10)
        basis_job = BasisJob(astore, bus, catalog, BASIS)
        metrics_job = MetricsJob(astore, bus, catalog, settings, basis=BASIS)
        return cls(astore, bus, task, flushed, basis_job, metrics_job)

    async def feed(self, events: Sequence[Event]) -> None:
        """Publish one batch, wait for its commit, then step the basis job."""
        await self.bus.publish("events", list(events))
        await asyncio.wait_for(self.flushed.get(), 10)
        await self.basis_job.step()

    async def tables(self) -> dict[str, pl.DataFrame]:
        return {name: await self.table(name) for name in TABLE_ORDER}

    async def table(self, name: str) -> pl.DataFrame:
        frame = await self.astore.query(f"SELECT * FROM {name}")
        return frame.sort(list(TABLE_ORDER[name][1]), maintain_order=True)

    async def metrics_state(self) -> pl.DataFrame:
        return await self.astore.query(
            "SELECT job, watermark_ns, seq FROM job_state WHERE job LIKE 'metrics:%' ORDER BY job"
        )

    async def close(self) -> None:
        self.writer_task.cancel()
        await asyncio.gather(self.writer_task, return_exceptions=True)
        self.astore.close()


# -- a quarter of an hour around the end of Friday 19 Sep 2025 in New York (04:00Z) ------
T0 = ns_from_datetime(datetime(2025, 9, 20, 3, 57, tzinfo=UTC))  # Fri 23:57 ET
FRIDAY = date(2025, 9, 19)


def _market(start_s: int, end_s: int) -> list[Event]:
    """Every 5 s a reference quote and quotes on two books; a pool every 15 s; rates every
    20 s; a trade every 12 s, alternating venues and sides, sometimes through a quote."""
    events: list[Event] = []
    for k in range(start_s, end_s, 5):
        t = T0 + k * S
        wiggle = f"{(k % 7) * 0.05:.2f}"
        events += [
            ref(t, "245.00", "245.04"),
            token(t + 100 * MS, "AAPLx@simx-a", str(245.40 + float(wiggle)), "245.80"),
            token(t + 300 * MS, "AAPLx@simx-b", "244.90", str(245.30 + float(wiggle))),
        ]
        if k % 15 == 0:
            events.append(pool(t + 200 * MS, f"{246.0 - (k % 4) * 0.3:.2f}"))
        if k % 20 == 0:
            events += [rate(t, "USDT", "1.0002"), rate(t, "USDC", "0.9998")]
    for k in range(start_s + 2, end_s, 12):
        venue = "AAPLx@simx-a" if (k // 12) % 2 else "AAPLx@simx-b"
        side = ("buy", "sell", "unknown")[(k // 12) % 3]
        events.append(
            trade(T0 + k * S + 400 * MS, venue, f"{245.2 + (k % 5) * 0.2:.2f}", "2", side)
        )
    return sorted(events, key=lambda e: e.ts_event)


FRIDAY_CLOSE_QUOTE = T0 - 8 * 3_600 * S + 2 * MINUTE  # Fri 15:59 ET, regular session
OFF_HOURS_TRADE = T0 + 60 * S + 700 * MS
BREACH_TRADE = T0 + 400 * S + 700 * MS


def _flash_crash(events: list[Event]) -> list[Event]:
    """simx-a quotes 229.90 / 230.00 USD (k = 1) from T0 + 300 s to T0 + 330 s."""
    crashed = range(T0 + 300 * S, T0 + 331 * S)
    kept = [
        e
        for e in events
        if not (isinstance(e, Quote) and e.venue == "simx-a" and e.ts_event in crashed)
    ]
    low = [token(T0 + k * S + 100 * MS, "AAPLx@simx-a", "229.90", "230.00") for k in
           range(300, 331, 5)]  # fmt: skip
    return sorted(kept + low, key=lambda e: e.ts_event)


FLUSHES: list[list[Event]] = [
    [  # Friday's close (mid 245.02): the prior close of Saturday's LULD bands
        ref(FRIDAY_CLOSE_QUOTE, "245.00", "245.04"),
        *_market(0, 60),
    ],
    [*_market(60, 120), trade(OFF_HOURS_TRADE, "AAPLx@simx-a", "300.00", "1", "buy")],
    [  # a token quote and a trade from 90 s before the watermark arrive late
        token(T0 + 30 * S + 700 * MS, "AAPLx@simx-a", "245.95", "246.05", recv=T0 + 121 * S),
        trade(T0 + 31 * S, "AAPLx@simx-b", "246.10", "7", "buy", recv=T0 + 121 * S),
        *_market(120, 240),  # past midnight ET: Friday ends at T0 + 180 s
    ],
    [
        *_flash_crash(_market(240, 420)),
        trade(BREACH_TRADE, "AAPLx@simx-a", "260.00", "1", "buy"),
    ],
    [*_market(420, 600), beat(T0 + 600 * S, "sim-sip"), beat(T0 + 600 * S, "sim-fx")],
    [beat(T0 + 900 * S, "sim-sip"), beat(T0 + 900 * S, "sim-fx")],
]
START = T0 - MINUTE
END = T0 + 600 * S  # the execution rows are final up to W - 5 min = T0 + 600 s


async def _run_live(path: Path, catalog: Catalog, settings: MetricsSettings) -> Pipeline:
    live = await Pipeline.open(path, catalog, settings)
    for flush in FLUSHES:
        await live.feed(flush)
        await live.metrics_job.step()
    return live


def _in_range(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    column = TABLE_ORDER[name][0]
    if column == "day":
        return frame
    return frame.filter(pl.col(column).cast(pl.Int64).is_between(START, END - 1))


async def _assert_equals_backfill(live: Pipeline, catalog: Catalog) -> dict[str, pl.DataFrame]:
    """Empty every metric table, backfill [START, END), compare with what live wrote."""
    before = await live.tables()
    for name in TABLE_ORDER:
        await live.astore.write(lambda s, n=name: s.execute(f"DELETE FROM {n}"))
    written = await live.astore.write(
        lambda s: run_backfill(
            s, catalog, MetricsSettings(), basis=BASIS, start_ns=START, end_ns=END
        )
    )
    after = await live.tables()
    for name in TABLE_ORDER:
        expected = _in_range(name, before[name])
        assert_frame_equal(after[name], expected, **CLOSE)
        assert written.get(name, 0) == expected.height, name
    return after


async def test_metrics_job_live_steps_equal_one_backfill(tmp_path: Path, catalog: Catalog) -> None:
    # One-minute chunks: the steps that jump minutes ahead run several windows.
    live = await _run_live(tmp_path / "live.duckdb", catalog, MetricsSettings(max_chunk_s=60))
    try:
        stats = live.metrics_job.stats_dict()
        tables = await _assert_equals_backfill(live, catalog)
    finally:
        await live.close()
    assert stats["chunks"] > len(FLUSHES)
    # 10 minutes of 12 s trades (50), the late one and the two off the bands, each checked
    # once per table.
    assert tables["trade_throughs"].height == tables["execution_quality"].height == 53
    assert tables["fragmentation_1m"].height == 10  # minutes T0 .. T0 + 9 min, END = T0 + 10 min
    # Friday (ET) is complete: its trades are the 17 before T0 + 180 s (15 + the late one
    # + the off-hours one).
    daily = tables["trade_through_daily"]
    assert daily["day"].unique().to_list() == [FRIDAY]
    assert daily["trades"].sum() == 17
    assert tables["venue_scorecard_daily"]["trades"].sum() == 17
    _assert_luld_by_hand(tables["luld_bands"], tables["luld_events"])


def _ts(*values: int) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(pl.Datetime("ns"))


def _assert_luld_by_hand(bands: pl.DataFrame, events: pl.DataFrame) -> None:
    """Saturday's bands and the four events of FLUSHES (all in the closed session)."""
    # Saturday's first trade: k = 182 s, simx-a (USD, k = 1), 245.2 + (182 % 5) x 0.2 =
    # 245.60: the reference from 1 ns after it. Prior close: Friday's mid (245.00 +
    # 245.04) / 2 = 245.02 > $3, Tier 1: w = 5 % x 245.60 = 12.28, bands 233.32 / 257.88.
    # Later trades stay within 1 % of it (the 260.00 one moves the mean of Saturday's 20
    # trades by about (260 - 245.6) / 20 = 0.72, 0.3 %).
    saturday = bands.filter(pl.col("et_date") == date(2025, 9, 20))
    # Its reset at midnight ET (T0 + 180 s, after Friday's trades), then the reference; no
    # other band change before END.
    assert saturday["ts_event"].cast(pl.Int64).to_list() == [
        T0 + 180 * S,
        T0 + 182 * S + 400 * MS + 1,
    ]
    reset, first = saturday.rows(named=True)
    assert (reset["ref_price_usd"], reset["lower_band_usd"], reset["upper_band_usd"]) == (
        None,
        None,
        None,
    )
    assert (first["tier"], first["session"], first["band_window"]) == (1, "closed", None)
    assert first["prior_close_usd"] == pytest.approx(245.02, rel=1e-12)
    assert first["ref_price_usd"] == pytest.approx(245.60, rel=1e-12)
    assert (first["lower_band_usd"], first["upper_band_usd"]) == (233.32, 257.88)
    # Friday: a reference from its first trade on, bands null (no Thursday close).
    friday = bands.filter(pl.col("et_date") == FRIDAY)
    assert friday.height > 0 and friday["ref_price_usd"].null_count() == 0
    assert friday["lower_band_usd"].null_count() == friday.height
    # Events, by hand: the Friday trade at 300.00 is > 245.02 x 1.2 = 294.024 (off-hours
    # band); the crash: simx-a's ask 230.00 <= 233.32 from T0 + 300.1 s to T0 + 335.1 s
    # (35 s): 15 s of limit state, then a 5-minute pause; 260.00 > 257.88 breaches.
    crash, pause = T0 + 300 * S + 100 * MS, T0 + 315 * S + 100 * MS
    expected = pl.DataFrame(
        {
            "event": ["off_hours_band", "limit_state_equiv", "pause_equiv", "band_breach"],
            "ts_start": _ts(OFF_HOURS_TRADE, crash, pause, BREACH_TRADE),
            "ts_end": _ts(OFF_HOURS_TRADE, pause, pause + 5 * MINUTE, BREACH_TRADE),
            "side": ["upper", "lower", "lower", "upper"],
            "price_usd": [300.0, 230.0, 230.0, 260.0],
            "ref_price_usd": [245.02, 245.60, 245.60, 245.60],
            "lower_band_usd": [245.02 * 0.8, 233.32, 233.32, 233.32],
            "upper_band_usd": [245.02 * 1.2, 257.88, 257.88, 257.88],
            "venue": ["simx-a"] * 4,
        }
    )
    assert_frame_equal(events.select(expected.columns), expected, **CLOSE)
    assert set(events["session"]) == {"closed"} and set(events["underlying"]) == {"AAPL"}


async def test_metrics_job_crash_in_commit_leaves_tables_and_state(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog, MetricsSettings())
    try:
        for flush in FLUSHES[:3]:
            await live.feed(flush)
            await live.metrics_job.step()
        tables, state = await live.tables(), await live.metrics_state()
        await live.feed(FLUSHES[3])
        original = Store.append

        def failing(store: Store, table: str, frame: pl.DataFrame) -> None:
            if table == "trade_throughs":  # after other tables were already rewritten
                raise StoreError("disk full")
            original(store, table, frame)

        monkeypatch.setattr(Store, "append", failing)
        with pytest.raises(StoreError, match="disk full"):
            await live.metrics_job.step()
        assert_frame_equal(await live.metrics_state(), state)
        for name, frame in (await live.tables()).items():
            assert_frame_equal(frame, tables[name], **CLOSE)
        monkeypatch.setattr(Store, "append", original)
        assert await live.metrics_job.step() > 0  # the same window again, now committed
        for flush in FLUSHES[4:]:
            await live.feed(flush)
            await live.metrics_job.step()
        await _assert_equals_backfill(live, catalog)
    finally:
        await live.close()


async def test_metrics_job_restart_resumes_and_rerun_writes_nothing_new(
    tmp_path: Path, catalog: Catalog
) -> None:
    path = tmp_path / "live.duckdb"
    first = await _run_live(path, catalog, MetricsSettings())
    try:
        tables, state = await first.tables(), await first.metrics_state()
    finally:
        await first.close()
    second = await Pipeline.open(path, catalog, MetricsSettings())
    try:
        assert await second.metrics_job.step() == 0  # saved state: nothing left to do
        assert_frame_equal(await second.metrics_state(), state)
        again = await second.tables()
    finally:
        await second.close()
    for name in TABLE_ORDER:
        assert_frame_equal(again[name], tables[name], **CLOSE)


async def test_metrics_job_waits_for_the_basis_job(tmp_path: Path, catalog: Catalog) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog, MetricsSettings())
    try:
        await live.bus.publish("events", FLUSHES[0])
        await asyncio.wait_for(live.flushed.get(), 10)
        assert await live.metrics_job.step() == 0  # no basis job_state yet
        assert (await live.metrics_state()).is_empty()
    finally:
        await live.close()


def test_due_specs_wait_for_min_step() -> None:
    specs = {s.name: s for s in METRIC_SPECS}
    chosen = [specs[n] for n in ("consolidated_bbo", "luld_bands", "luld_events")]
    done = dict.fromkeys(specs, T0)

    def due(watermark: int) -> list[str]:
        return [s.name for s in due_specs(chosen, done, watermark=watermark)]

    # No min step: due as soon as anything is final. The bands (60 s, no lookahead) wait
    # for W = T0 + 60 s; the events (60 s, lookahead 15 s) for W = T0 + 75 s.
    assert due(T0 + 1) == ["consolidated_bbo"]
    assert due(T0 + 60 * S - 1) == ["consolidated_bbo"]
    assert due(T0 + 60 * S) == ["consolidated_bbo", "luld_bands"]
    assert due(T0 + 75 * S - 1) == ["consolidated_bbo", "luld_bands"]
    assert due(T0 + 75 * S) == ["consolidated_bbo", "luld_bands", "luld_events"]
    assert due(T0) == []


def _close_rows(pds: dict[date, float]) -> pl.DataFrame:
    """daily_premium rows of AAPL (close 100) at 16:00 ET of each day, with these PDs."""
    rows = []
    for day, pd in pds.items():
        close_ts = et_day_bounds(day)[0] + 16 * 3_600 * S
        rows.append(("AAPL", day, close_ts, 100.0, close_ts - S, 100.0 * (1 + pd), pd))
    return pl.DataFrame(rows, schema=DAILY_PREMIUM_SCHEMA, orient="row")


def test_persistent_premium_is_rewritten_whole_from_stored_daily_rows(store: Store) -> None:
    # |PD| = 3 % on 9 trading days: Wed 27 Aug .. Tue 9 Sep 2025 (Labor Day, Mon 1 Sep,
    # and the weekends are no trading days: they do not break the run); 1 % on Wed 10 Sep.
    days = [date(2025, 8, d) for d in (27, 28, 29)] + [date(2025, 9, d) for d in (2, 3, 4, 5, 8, 9)]
    spec = next(s for s in METRIC_SPECS if s.name == "daily_premium")
    lo, hi = et_day_bounds(days[0])[0], et_day_bounds(date(2025, 9, 10))[1]
    window = Window(
        spec, lo, hi, _close_rows(dict.fromkeys(days, 0.03) | {date(2025, 9, 10): 0.01})
    )
    done = {"daily_premium": hi}
    for _ in range(2):  # a re-run rewrites the same rows
        written = commit_chunk(store, [window], done, specs=METRIC_SPECS, seq=None)
        assert written == {"daily_premium": 10, "persistent_premium": 1}
    # 9 days > 7: persistent, flagged on the 8th trading day (Mon 8 Sep).
    expected = pl.DataFrame(
        {
            "underlying": ["AAPL"],
            "start_date": [days[0]],
            "end_date": [days[-1]],
            "length_days": [9],
            "max_abs_pd": [0.03],
            "persistent": [True],
            "flagged_on": [date(2025, 9, 8)],
        },
        schema_overrides={"length_days": pl.Int32},
    )
    assert_frame_equal(store.query("SELECT * FROM persistent_premium"), expected)
    # Rows not yet final (done before Sep 10's end) are not read: no run is written then.
    store.execute("DELETE FROM persistent_premium")
    early = {"daily_premium": et_day_bounds(days[0])[1] - 1}
    assert commit_chunk(store, [window], early, specs=METRIC_SPECS, seq=None) == {
        "daily_premium": 10
    }


def test_run_backfill_refuses_an_empty_span(store: Store, catalog: Catalog) -> None:
    with pytest.raises(BadRequestError, match=r"end \(5\) must be after start \(5\)"):
        run_backfill(store, catalog, MetricsSettings(), basis=BASIS, start_ns=5, end_ns=5)


# -- conversions, by hand, in the regular session -----------------------------------------
T1 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET
HAND: list[Event] = [
    rate(T1, "USDT", "1.0002"),
    rate(T1, "USDC", "0.9998"),
    ref(T1, "244.99", "245.01"),
    token(T1 + 100 * MS, "AAPLx@simx-b", "246.80", "247.00"),  # USDT, k = 1.0033
    pool(T1 + 150 * MS, "246.10"),  # USDC, k = 1.0033, LP fee 30 bps
    trade(T1 + 200 * MS, "AAPLx@simx-b", "246.90", "10", "buy"),
    beat(T1 + 400 * S, "sim-sip"),
    beat(T1 + 400 * S, "sim-fx"),
]
K = 1.0033


async def _hand(path: Path, catalog: Catalog) -> Pipeline:
    live = await Pipeline.open(path, catalog, MetricsSettings())
    await live.feed(HAND)
    await live.metrics_job.step()
    return live


def _row(frame: pl.DataFrame, **where: Any) -> dict[str, Any]:
    for column, value in where.items():
        frame = frame.filter(pl.col(column) == value)
    assert frame.height == 1
    return frame.row(0, named=True)


async def test_load_inputs_converts_to_usd_per_share(tmp_path: Path, catalog: Catalog) -> None:
    inputs = MetricsInputs.from_catalog(catalog, BASIS)
    hand = await _hand(tmp_path / "hand.duckdb", catalog)
    try:
        frames = await hand.astore.read(
            lambda s: load_inputs(
                s,
                inputs,
                lo=dict.fromkeys(("quotes", "trades", "reference"), T1 - S),
                hi=T1 + S,
                seq=2**62,
            )
        )
    finally:
        await hand.close()
    quotes = frames["quotes"].collect()
    book = _row(quotes, venue="simx-b")
    # USDT quote x 1.0002 USD per USDT / k shares per token; sizes 3 and 4 tokens x k.
    assert book["bid"] == pytest.approx(246.80 * 1.0002 / K, rel=1e-12)
    assert book["ask"] == pytest.approx(247.00 * 1.0002 / K, rel=1e-12)
    assert (book["bid_sz"], book["ask_sz"]) == (pytest.approx(3 * K), pytest.approx(4 * K))
    assert (book["source_kind"], book["fee_bps"]) == ("book", 10.0)
    pooled = _row(quotes, venue="simdex")
    # pool: bid = p (1 - f), ask = p / (1 - f), f = 0.003, in USDC at 0.9998, / k; no sizes.
    assert pooled["bid"] == pytest.approx(246.10 * 0.997 * 0.9998 / K, rel=1e-12)
    assert pooled["ask"] == pytest.approx(246.10 / 0.997 * 0.9998 / K, rel=1e-12)
    assert (pooled["bid_sz"], pooled["source_kind"], pooled["fee_bps"]) == (None, "pool", 0.0)
    fill = frames["trades"].collect().row(0, named=True)
    # 246.90 USDT x 1.0002 / k per share; 10 tokens = 10 k shares; notional 246.90 x 1.0002 x 10.
    assert fill["price"] == pytest.approx(246.90 * 1.0002 / K, rel=1e-12)
    assert fill["size"] == pytest.approx(10 * K, rel=1e-12)
    assert fill["notional_usd"] == pytest.approx(246.90 * 1.0002 * 10, rel=1e-12)
    nbbo = frames["reference"].collect().row(0, named=True)
    assert (nbbo["nbb"], nbbo["nbo"], nbbo["session"]) == (244.99, 245.01, "regular")


async def test_metrics_job_execution_and_trade_through_rows_by_hand(
    tmp_path: Path, catalog: Catalog
) -> None:
    hand = await _hand(tmp_path / "hand.duckdb", catalog)
    try:
        execution = await hand.table("execution_quality")
        through = await hand.table("trade_throughs")
    finally:
        await hand.close()
    row = execution.row(0, named=True)
    bid_b, ask_b = 246.80 * 1.0002 / K, 247.00 * 1.0002 / K  # 246.0374.., 246.2368..
    ask_pool = 246.10 / 0.997 * 0.9998 / K  # 245.9794..: the pool is the best ask
    price = 246.90 * 1.0002 / K
    mid = (bid_b + ask_pool) / 2
    assert row["best_bid_usd"] == pytest.approx(bid_b, rel=1e-12)
    assert row["best_ask_usd"] == pytest.approx(ask_pool, rel=1e-12)
    assert ask_pool < ask_b
    # ES = 2 D (P - M) with D = +1; in bps of M. The trade is outside: improvement BA - P < 0.
    assert row["effective_spread_usd"] == pytest.approx(2 * (price - mid), rel=1e-12)
    assert row["effective_spread_bps"] == pytest.approx(2 * (price - mid) / mid * 1e4, rel=1e-12)
    assert row["price_improvement_usd"] == pytest.approx(ask_pool - price, rel=1e-12)
    assert (row["execution_class"], row["ref_state"]) == ("outside", "live")
    assert (row["price_usd"], row["size_shares"]) == (pytest.approx(price), pytest.approx(10 * K))
    # XES vs the NBBO mid 245.00: 2 (P - 245) / 245 x 1e4.
    assert row["xes_bps"] == pytest.approx(2 * (price - 245.0) / 245.0 * 1e4, rel=1e-12)
    tt = through.row(0, named=True)
    # The pool's better ask came 50 ms before the trade, not present for 1 s: flickering.
    assert (tt["traded_through"], tt["flicker_exempt"], tt["protected_venue"]) == (
        False,
        True,
        None,
    )


# -- compute_usd_trades: the stablecoin median and k, by hand ------------------------------
def _token_trades(rows: list[tuple[int, str, float, float, float]]) -> pl.LazyFrame:
    data = [
        (T1 + t, "AAPL", "v", "AAPLx@v", f"t{i}", price, size, "buy", i, ccy, k)
        for i, (t, ccy, price, size, k) in enumerate(rows)
    ]
    return pl.DataFrame(data, schema=TOKEN_TRADES_SCHEMA, orient="row").lazy()


def _fx(rows: list[tuple[int, str, str, float]]) -> pl.LazyFrame:
    data = [(T1 + t, venue, ccy, value) for t, venue, ccy, value in rows]
    return pl.DataFrame(data, schema=FX_SCHEMA, orient="row").lazy()


RATES = _fx(
    [
        (-5 * S, "c", "USDT", 0.9000),  # 65 s before the first trade: not fresh (60 s)
        (10 * S, "a", "USDT", 1.0004),
        (50 * S, "b", "USDT", 1.0000),
        (100 * S, "c", "USDT", 1.0010),
    ]
)
TRADES = _token_trades(
    [
        (60 * S, "USDT", 100.0, 3.0, 2.0),
        (60 * S, "USD", 100.0, 3.0, 2.0),
        (60 * S, "USDC", 100.0, 3.0, 2.0),
        (120 * S, "USDT", 100.0, 1.0, 1.0),
    ]
)


def test_compute_usd_trades_uses_the_fresh_median_and_k() -> None:
    rows = compute_usd_trades(TRADES, RATES, fx_max_staleness_ms=60_000).collect()
    # At 60 s the fresh USDT sources are a (1.0004) and b (1.0000): median 1.0002; c is
    # 65 s old. 100 USDT x 1.0002 / k 2 = 50.01 per share; 3 tokens x 2 = 6 shares.
    # USD: X = 1, 100 / 2 = 50. USDC: no source, no price. At 120 s: a is 110 s old,
    # b 70 s: only c (1.0010) is fresh: 100 x 1.0010 / 1.
    expected = pl.DataFrame(
        {
            "price": [100 * 1.0002 / 2, 50.0, None, 100 * 1.0010],
            "size": [6.0, 6.0, 6.0, 1.0],
            "notional_usd": [100 * 1.0002 * 3, 300.0, None, 100 * 1.0010],
        }
    )
    assert_frame_equal(rows.select("price", "size", "notional_usd"), expected, **CLOSE)
    assert rows["trade_id"].to_list() == ["t0", "t1", "t2", "t3"]


def test_compute_usd_trades_lookback_claim() -> None:
    """Trades from t0 on need only the rates from t0 - fx_max_staleness."""
    t0 = T1 + 100 * S
    full = compute_usd_trades(TRADES, RATES, fx_max_staleness_ms=60_000).collect()
    recent = RATES.filter(pl.col("ts_event").cast(pl.Int64) >= t0 - 60 * S)
    later = TRADES.filter(pl.col("ts_event").cast(pl.Int64) >= t0)
    windowed = compute_usd_trades(later, recent, fx_max_staleness_ms=60_000).collect()
    expected = full.filter(pl.col("ts_event").cast(pl.Int64) >= t0)
    assert expected.height == 1
    assert_frame_equal(windowed, expected, **CLOSE)
