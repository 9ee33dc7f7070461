from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from divergence.bus import InProcessBus
from divergence.events import FeedEvent, FxRate, Heartbeat, Quote
from divergence.quarantine import QuarantineRecord
from divergence.settings import WriterSettings
from divergence.store.db import AsyncStore, Store
from divergence.store.writer import EventWriter, build_batch


def _quote(i: int, venue: str = "simx-a") -> Quote:
    return Quote(
        ts_event=1_000 + i,
        ts_recv=2_000 + i,
        venue=venue,
        instrument_id=f"AAPLx@{venue}",
        symbol="AAPLx/USD",
        bid_px=Decimal("245.10") + i,
        bid_sz=Decimal("1.5"),
        ask_px=Decimal("245.30") + i,
        ask_sz=Decimal("2"),
    )


async def _start(
    tmp_path: Path, settings: WriterSettings
) -> tuple[AsyncStore, InProcessBus, EventWriter, asyncio.Task[None]]:
    store = Store(tmp_path / "w.duckdb")
    store.migrate()
    astore = AsyncStore(store)
    bus = InProcessBus()
    writer = EventWriter(astore, bus, settings)
    task = asyncio.create_task(writer.run())
    await asyncio.wait_for(writer.ready.wait(), 10)
    return astore, bus, writer, task


async def test_writer_flushes_on_size(tmp_path: Path) -> None:
    astore, bus, _writer, task = await _start(
        tmp_path, WriterSettings(flush_rows=3, flush_ms=600_000)
    )
    flushed = bus.subscribe("flushed")
    await bus.publish("events", [_quote(0), _quote(1)])
    await bus.publish("events", [_quote(2)])
    last = await asyncio.wait_for(flushed.get(), 10)
    rows = await astore.query("SELECT bid_px, ingest_seq FROM quotes ORDER BY ingest_seq")
    assert last == 3
    assert [str(v) for v in rows["bid_px"].to_list()] == [
        "245.100000000000000000",
        "246.100000000000000000",
        "247.100000000000000000",
    ]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    astore.close()


async def test_writer_flushes_on_age_and_advances_venue_clock(tmp_path: Path) -> None:
    astore, bus, _writer, task = await _start(
        tmp_path, WriterSettings(flush_rows=10_000, flush_ms=50)
    )
    flushed = bus.subscribe("flushed")
    await bus.publish(
        "events", [_quote(0), Heartbeat(ts_event=9_999, ts_recv=3_000, venue="simx-a")]
    )
    assert await asyncio.wait_for(flushed.get(), 10) == 1
    clock = await astore.query("SELECT venue, epoch_ns(ts_event_max) AS t FROM venue_clock")
    assert clock.rows() == [("simx-a", 9_999)]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    astore.close()


async def test_writer_cancel_flushes_everything_queued(tmp_path: Path) -> None:
    astore, bus, _writer, task = await _start(
        tmp_path, WriterSettings(flush_rows=10_000, flush_ms=600_000)
    )
    await bus.publish("events", [_quote(i) for i in range(5)])
    await bus.publish(
        "quarantine",
        [
            QuarantineRecord(
                ts_recv=7, venue="simx-a", reason="malformed json", detail="", raw="{oops"
            )
        ],
    )
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    quotes = await astore.query("SELECT count(*) AS n, max(ingest_seq) AS s FROM quotes")
    bad = await astore.query("SELECT reason, raw, ingest_seq FROM quarantine")
    assert quotes.rows() == [(5, 5)]
    assert bad.rows() == [("malformed json", "{oops", 6)]
    astore.close()


async def test_writer_continues_sequence_after_restart(tmp_path: Path) -> None:
    astore, bus, _writer, task = await _start(
        tmp_path, WriterSettings(flush_rows=2, flush_ms=600_000)
    )
    await bus.publish("events", [_quote(0), _quote(1)])
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    astore.close()
    astore, bus, _writer, task = await _start(
        tmp_path, WriterSettings(flush_rows=1, flush_ms=600_000)
    )
    flushed = bus.subscribe("flushed")
    await bus.publish(
        "events",
        [
            FxRate(
                ts_event=5, ts_recv=5, venue="sim-fx", currency="USDC", rate_usd=Decimal("0.8774")
            )
        ],
    )
    assert await asyncio.wait_for(flushed.get(), 10) == 3
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    astore.close()


def test_writer_batch_numbering_is_contiguous() -> None:
    events = [
        _quote(0),
        FxRate(ts_event=5, ts_recv=5, venue="sim-fx", currency="USDT", rate_usd=Decimal("1.0001")),
        _quote(1, venue="simx-b"),
    ]
    tables, clock, last = build_batch(events, [], first_seq=10, ts_ingest=1)
    seqs = sorted(s for frame in tables.values() for s in frame["ingest_seq"].to_list())
    assert seqs == [10, 11, 12] and last == 12
    assert dict(zip(clock["venue"], clock["ingest_seq"], strict=True)) == {
        "simx-a": 12,
        "sim-fx": 12,
        "simx-b": 12,
    }


@pytest.mark.parametrize("policy", ["drop_oldest"])
async def test_bus_drop_oldest_counts_drops(policy: str) -> None:
    bus = InProcessBus()
    sub = bus.subscribe("basis", maxsize=2, policy="drop_oldest")
    for i in range(5):
        await bus.publish("basis", i)
    assert sub.dropped == 3
    assert [await sub.get(), await sub.get()] == [3, 4]


async def test_writer_cancel_waits_for_a_commit_in_flight(tmp_path: Path) -> None:
    """Cancelling the writer mid-flush must not return before that flush has committed."""
    import time

    astore, bus, writer, task = await _start(
        tmp_path, WriterSettings(flush_rows=1, flush_ms=600_000)
    )
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def busy(_store: Store) -> None:
        loop.call_soon_threadsafe(started.set)
        time.sleep(0.5)  # hold the write thread so the writer's flush queues behind it

    blocker = asyncio.create_task(astore.write(busy))
    await started.wait()
    await bus.publish("events", [_quote(0)])
    for _ in range(1_000):  # until the writer has taken the batch into a flush
        if writer._events.queue.empty() and writer._pending() == 0:
            break
        await asyncio.sleep(0)
    assert writer._pending() == 0 and writer.stats.flushes == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rows = await astore.query("SELECT bid_px FROM quotes")
    assert [str(v) for v in rows["bid_px"]] == ["245.100000000000000000"]
    await blocker
    astore.close()


async def test_writer_stores_feed_events_without_moving_the_venue_clock(tmp_path: Path) -> None:
    astore, bus, _writer, task = await _start(
        tmp_path, WriterSettings(flush_rows=2, flush_ms=600_000)
    )
    flushed = bus.subscribe("flushed")
    gap = FeedEvent(
        ts_event=9_000_000_000_000_000_000,
        ts_recv=9_000_000_000_000_000_000,
        venue="simx-a",
        stream="book:AAPLx/USD",
        event="gap",
        detail="expected sequence 11, received 13",
        value=2.0,
    )
    await bus.publish("events", [_quote(0), gap])
    assert await asyncio.wait_for(flushed.get(), 10) == 2
    rows = await astore.query(
        "SELECT epoch_ns(ts) AS ts, venue, stream, event, detail, value, ingest_seq"
        " FROM feed_events"
    )
    assert rows.to_dicts() == [
        {
            "ts": 9_000_000_000_000_000_000,
            "venue": "simx-a",
            "stream": "book:AAPLx/USD",
            "event": "gap",
            "detail": "expected sequence 11, received 13",
            "value": 2.0,
            "ingest_seq": 2,
        }
    ]
    clock = await astore.query("SELECT venue, epoch_ns(ts_event_max) AS ts FROM venue_clock")
    assert clock.to_dicts() == [{"venue": "simx-a", "ts": 1_000}]  # the quote's, not the gap's
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
