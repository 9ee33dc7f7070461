"""A recorded Bybit v5 session through a local websocket server into DuckDB, as fast as it goes.

    .venv/bin/python bench/bench_ingest_ws.py [--seconds 120] [--rate 400] [--naive-frames 3000]

divergence runs in one process pinned to one core (``sched_setaffinity``), DuckDB with
one thread. The venue is a separate process on the other core: the real ``BybitServer``
serving a synthesized session (``orderbook.50`` deltas with contiguous ``u`` and
``publicTrade``) at speed 0, read by the real ``FeedSession`` + ``BybitAdapter`` +
``BookKeeper`` + ``EventWriter``. The clock starts when the server starts streaming
(after the subscriptions) and stops when the last row is committed.
Reported, as JSON:

- ``parse_only``: the same frames through ``FramePipeline`` without sockets or DuckDB;
- ``end_to_end``: frames/s from the first frame sent to the last row committed, and the
  commit latency (commit time minus ``ts_recv``) at p50/p99/max over every row;
- ``naive``: the baseline in the same run: the same parsed frames, one DuckDB INSERT per
  message (one row per event, level rows for books), no batching.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from divergence.bus import InProcessBus
from divergence.catalog import load_catalog
from divergence.clock import now_ns
from divergence.content import recordings_dir
from divergence.events import BookUpdate, FeedEvent, Quote, Trade
from divergence.feeds.pipeline import FramePipeline
from divergence.feeds.session import FeedSession
from divergence.settings import VenueSettings, WriterSettings
from divergence.store.db import AsyncStore, Store
from divergence.store.writer import EventWriter
from divergence.venue_servers.bybit import BybitServer
from divergence.venue_servers.bybit_synth import synthesize
from divergence.venues.bybit import BybitAdapter


def _pin_one_core() -> str:
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        return f"pinned to CPU {sorted(os.sched_getaffinity(0))[0]}"
    except (AttributeError, OSError):
        return "not pinned"


def _parse_only(frames: list[str]) -> dict[str, Any]:
    catalog = load_catalog(recordings_dir() / "catalog.toml")
    adapter = BybitAdapter(catalog.venues["bybit"], catalog)
    pipeline = FramePipeline(adapter, "bybit")
    start = time.perf_counter()
    events = 0
    for i, frame in enumerate(frames):
        events += len(pipeline.process(frame, ts_recv=i).events)
    seconds = time.perf_counter() - start
    return {"frames": len(frames), "events": events, "msgs_per_s": round(len(frames) / seconds)}


def _serve(args: tuple[float, float, int], conn: Connection) -> None:
    """The venue: a BybitServer in its own process, on the other core."""
    seconds, rate, cpu = args
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu})
    recording = synthesize(seed=1, seconds=seconds, updates_per_s=rate, reset_at=None)

    async def run() -> None:
        server = BybitServer(recording, speed=0.0)
        await server.start()
        conn.send(server.port)
        books = sorted({f.stream for f in recording if f.stream.startswith("book:")})
        await server.wait_subscribed(books, timeout=60)
        conn.send(time.time_ns())
        server.start_streaming()
        await server.finished.wait()
        while any(c.queue.qsize() for c in server.connections):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        conn.send(server.frames_sent)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await server.stop()

    asyncio.run(run())


async def _end_to_end(
    seconds: float, rate: float, db: Path, flush_rows: int, server_cpu: int
) -> dict[str, Any]:
    catalog = load_catalog(recordings_dir() / "catalog.toml")
    venue = catalog.venues["bybit"]
    store = Store(db, threads=1)
    store.migrate()
    astore = AsyncStore(store)
    bus = InProcessBus()
    writer = EventWriter(astore, bus, WriterSettings(flush_rows=flush_rows, flush_ms=100))
    flushed = bus.subscribe("flushed", maxsize=1_000_000)
    writer_task = asyncio.create_task(writer.run())
    await writer.ready.wait()
    parent, child = multiprocessing.Pipe()
    venue_proc = multiprocessing.get_context("spawn").Process(
        target=_serve, args=((seconds, rate, server_cpu), child)
    )
    venue_proc.start()
    loop = asyncio.get_running_loop()
    port = await loop.run_in_executor(None, parent.recv)
    settings = VenueSettings(stale_min_s=60, silence_timeout_s=60)
    url = f"ws://127.0.0.1:{port}/"
    session = FeedSession(venue, BybitAdapter(venue, catalog), url, bus, None, settings)
    feed_task = asyncio.create_task(session.run())
    started_ns = await loop.run_in_executor(None, parent.recv)
    sent = await loop.run_in_executor(None, parent.recv)
    await session.wait_for(lambda st: st.frames >= sent, timeout=600)
    feed_task.cancel()
    await asyncio.gather(feed_task, return_exceptions=True)
    writer_task.cancel()  # drains the queue and commits everything
    await asyncio.gather(writer_task, return_exceptions=True)
    ended_ns = now_ns()
    commits: list[tuple[int, int]] = []
    while not flushed.queue.empty():
        commits.append((flushed.queue.get_nowait(), now_ns()))
    rows = store.query(
        "SELECT ingest_seq, epoch_ns(ts_recv) AS ts_recv FROM book_levels"
        " UNION ALL SELECT ingest_seq, epoch_ns(ts_recv) FROM trades"
        " UNION ALL SELECT ingest_seq, epoch_ns(ts_recv) FROM quotes"
    )
    parent.send("stop")
    venue_proc.join(30)
    astore.close()
    frames = session.stats.frames
    seconds = (ended_ns - started_ns) / 1e9
    latency = _latency(rows, writer, started_ns, ended_ns)
    return {
        "frames": frames,
        "events": session.stats.events,
        "gaps": session.stats.gaps,
        "quarantined": session.stats.quarantined,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(frames / seconds),
        "flushes": writer.stats.flushes,
        "commit_latency_ms": latency,
        "flush_markers_seen": len(commits),
    }


def _latency(rows: pl.DataFrame, writer: EventWriter, start: int, end: int) -> dict[str, float]:
    """Commit time per row: the writer records when each flush committed (``commit_log``)."""
    log = pl.DataFrame(
        writer.stats.commit_log, schema={"last_seq": pl.Int64, "commit_ns": pl.Int64}, orient="row"
    ).sort("last_seq")
    joined = (
        rows.unique("ingest_seq")
        .sort("ingest_seq")
        .join_asof(log, left_on="ingest_seq", right_on="last_seq", strategy="forward")
        .with_columns(((pl.col("commit_ns") - pl.col("ts_recv")) / 1e6).alias("ms"))
    )
    ms = joined["ms"].drop_nulls()
    return {
        "p50": round(float(ms.quantile(0.5) or 0), 1),
        "p99": round(float(ms.quantile(0.99) or 0), 1),
        "max": round(float(ms.max() or 0), 1),  # type: ignore[arg-type]
        "rows": ms.len(),
    }


def _naive(frames: list[str], db: Path) -> dict[str, Any]:
    catalog = load_catalog(recordings_dir() / "catalog.toml")
    pipeline = FramePipeline(BybitAdapter(catalog.venues["bybit"], catalog), "bybit")
    store = Store(db, threads=1)
    store.migrate()
    cur = store.cursor()
    seq = 0
    start = time.perf_counter()
    for frame in frames:
        for event in pipeline.process(frame, ts_recv=now_ns()).events:
            seq += 1
            if isinstance(event, BookUpdate):
                for side, levels in (("bid", event.bids), ("ask", event.asks)):
                    for level in levels:
                        cur.execute(
                            "INSERT INTO book_levels VALUES (make_timestamp_ns($1),"
                            " make_timestamp_ns($2), make_timestamp_ns($3), $4, $5, $6, $7, $8,"
                            " $9, $10, $11, $12)",
                            [
                                event.ts_event,
                                event.ts_recv,
                                now_ns(),
                                event.venue,
                                event.instrument_id,
                                event.symbol,
                                event.is_snapshot,
                                event.sequence,
                                side,
                                level.price,
                                level.size,
                                seq,
                            ],
                        )
            elif isinstance(event, Trade):
                cur.execute(
                    "INSERT INTO trades VALUES (make_timestamp_ns($1), make_timestamp_ns($2),"
                    " make_timestamp_ns($3), $4, $5, $6, $7, $8, $9, $10, $11)",
                    [
                        event.ts_event,
                        event.ts_recv,
                        now_ns(),
                        event.venue,
                        event.instrument_id,
                        event.symbol,
                        event.price,
                        event.size,
                        event.side,
                        event.trade_id,
                        seq,
                    ],
                )
            elif isinstance(event, Quote):
                cur.execute(
                    "INSERT INTO quotes VALUES (make_timestamp_ns($1), make_timestamp_ns($2),"
                    " make_timestamp_ns($3), $4, $5, $6, $7, $8, $9, $10, $11)",
                    [
                        event.ts_event,
                        event.ts_recv,
                        now_ns(),
                        event.venue,
                        event.instrument_id,
                        event.symbol,
                        event.bid_px,
                        event.bid_sz,
                        event.ask_px,
                        event.ask_sz,
                        seq,
                    ],
                )
            elif isinstance(event, FeedEvent):
                continue
    seconds = time.perf_counter() - start
    store.close()
    return {"frames": len(frames), "msgs_per_s": round(len(frames) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="session length (sim time)")
    parser.add_argument("--rate", type=float, default=400.0, help="book pushes/s per listing")
    parser.add_argument("--naive-frames", type=int, default=3_000)
    parser.add_argument("--flush-rows", type=int, default=20_000)
    args = parser.parse_args()
    pinned = _pin_one_core()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    server_cpu = (cpus[0] + 1) % (os.cpu_count() or 1)
    recording = synthesize(seed=1, seconds=args.seconds, updates_per_s=args.rate, reset_at=None)
    server = BybitServer(recording, speed=0.0)
    for frame in recording:  # the initial state; clients get it as snapshots on subscribe
        if frame.at_ms == 0:
            server.observe(frame)
    streams = sorted({f.stream for f in recording if f.stream.startswith("book:")})
    initial = [text for stream in streams for text in server.snapshot_frames(stream)]
    texts = [server.render(f) for f in recording if f.at_ms > 0]
    with tempfile.TemporaryDirectory() as tmp:
        parse_only = _parse_only(initial + texts)
        e2e = asyncio.run(
            _end_to_end(
                args.seconds, args.rate, Path(tmp) / "e2e.duckdb", args.flush_rows, server_cpu
            )
        )
        naive = _naive(initial + texts[: args.naive_frames], Path(tmp) / "naive.duckdb")
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "duckdb": duckdb.__version__,
        "polars": pl.__version__,
        "affinity": pinned,
        "session_frames": len(texts),
        "parse_only": parse_only,
        "end_to_end": e2e,
        "naive_per_message_insert": naive,
        "speedup_vs_naive": round(e2e["msgs_per_s"] / naive["msgs_per_s"], 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
