"""Faults through the real FeedSession against BybitServer: each ends with VALID books.

The server loops the committed session at 4x speed, so data keeps flowing while a fault
is injected; the session's feed events are read from the bus topic ``events``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from divergence.bus import InProcessBus
from divergence.catalog import Catalog
from divergence.events import FxRate, Quote, Trade
from divergence.feeds.session import FeedSession
from divergence.settings import VenueSettings
from divergence.venue_servers.bybit import BybitServer
from divergence.venue_servers.bybit_synth import synthesize
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.bybit import BybitAdapter
from venues.feed_harness import FAST, FeedHarness, running_feed

SYMBOLS = ("AAPLXUSDT", "NVDAXUSDT", "TSLAXUSDT")
Harness = FeedHarness


@pytest.fixture
def settings() -> VenueSettings:
    return VenueSettings(**FAST)


@pytest.fixture
async def harness(
    recording: list[RecordedFrame], bybit_catalog: Catalog, settings: VenueSettings
) -> AsyncIterator[Harness]:
    venue = bybit_catalog.venues["bybit"]
    adapter = BybitAdapter(venue, bybit_catalog)
    server = BybitServer(recording, speed=4.0, loop=True)
    async with running_feed(server, venue, adapter, settings, SYMBOLS) as h:
        yield h


async def test_bybit_session_streams_every_declared_stream(harness: Harness) -> None:
    streams = harness.session.adapter.streams()
    await harness.until(lambda st: all(st.streams[s].state == "live" for s in streams))
    stats = harness.session.stats
    assert (stats.quarantined, stats.gaps, stats.connects) == (0, 0, 1)
    events = harness.drain()
    quote = next(e for e in events if isinstance(e, Quote) and e.symbol == "AAPLXUSDT")
    assert 225 < quote.bid_px < quote.ask_px < 235
    assert {e.currency for e in events if isinstance(e, FxRate)} == {"USDC", "USDT"}
    assert [e.detail for e in harness.feed("connect")] == [harness.server.url]


async def test_bybit_session_reconnects_after_dropped_connections(harness: Harness) -> None:
    assert await harness.server.drop_connections() == 1
    await harness.until(lambda st: st.connects >= 2 and harness.books_valid())
    stats = harness.session.stats
    assert (stats.disconnects, stats.reconnects) == (1, 1)
    assert len(harness.feed("disconnect")) == 1
    assert [e.detail for e in harness.feed("book_invalid")] == [
        "new connection; awaiting snapshot"
    ] * 3
    resyncs = harness.feed("resync")
    assert sorted(e.stream for e in resyncs) == [f"book:{s}" for s in SYMBOLS]
    assert all(e.detail.startswith("snapshot after ") for e in resyncs)


async def test_bybit_session_restarts_a_silent_socket(harness: Harness) -> None:
    assert harness.server.silence() == 1
    await harness.until(lambda st: st.silent_restarts >= 1 and st.connects >= 2)
    await harness.until(lambda st: harness.books_valid())
    [silent] = harness.feed("silent")
    assert (silent.detail, silent.value) == ("no frame for 1.0 s", 1.0)
    assert len(harness.feed("disconnect")) == 1


async def test_bybit_session_resyncs_a_book_after_a_skipped_delta(harness: Harness) -> None:
    stream = "book:AAPLXUSDT"
    before = harness.server.subscribe_counts[stream]
    harness.server.skip_next(stream)
    await harness.until(lambda st: st.gaps >= 1 and st.resyncs >= 1 and harness.books_valid())
    [gap] = harness.feed("gap", stream)
    expected, received = (int(x) for x in gap.detail.split("sequence ")[1].split(", received "))
    assert (received - expected, gap.value) == (1, 1.0)
    assert [e.detail for e in harness.feed("book_invalid", stream)] == [f"gap: {gap.detail}"]
    assert harness.feed("resync", stream)[0].detail.startswith("snapshot after ")
    assert harness.server.subscribe_counts[stream] >= before + 1
    assert harness.session.stats.checksum_mismatches == 0


async def test_bybit_session_resyncs_after_a_corrupted_update_id(harness: Harness) -> None:
    stream = "book:TSLAXUSDT"
    harness.server.corrupt_next(stream)  # Bybit has no checksum: u is rewritten to u + 1
    await harness.until(lambda st: st.gaps >= 1 and st.resyncs >= 1 and harness.books_valid())
    [gap] = harness.feed("gap", stream)
    assert gap.value == 1.0 and gap.detail.startswith("expected sequence ")
    assert len(harness.feed("resync", stream)) == 1
    assert harness.session.stats.quarantined == 0


async def test_bybit_session_quarantines_hostile_frames_and_keeps_going(harness: Harness) -> None:
    nan_book = (
        '{"topic":"orderbook.50.AAPLXUSDT","ts":1772463600000,"type":"delta","data":'
        '{"s":"AAPLXUSDT","b":[["NaN","1"]],"a":[],"u":5,"seq":1},"cts":1772463600000}'
    )
    foreign = nan_book.replace("AAPLXUSDT", "ETHUSDT")
    for text in ("garbage \x00", '{"topic":"orderbook.50.AAPLXUSDT","ts":1', nan_book, foreign):
        assert harness.server.inject(text) == 1
    await harness.until(lambda st: st.quarantined >= 4)
    stats = harness.session.stats
    assert stats.quarantine_reasons == {"malformed json": 2, "bad decimal": 1, "unknown symbol": 1}
    assert (stats.connects, stats.gaps) == (1, 0)
    assert len(harness.feed("quarantine")) == 4
    assert harness.books_valid()


@pytest.mark.parametrize("settings", [VenueSettings(**FAST, max_frame_bytes=65_536)])
async def test_bybit_session_reconnects_after_an_oversized_frame(harness: Harness) -> None:
    harness.server.inject('{"topic":"orderbook.50.AAPLXUSDT","pad":"' + "x" * 100_000 + '"}')
    await harness.until(lambda st: st.connects >= 2 and harness.books_valid())
    [disconnect] = harness.feed("disconnect")
    assert "1009" in disconnect.detail
    assert harness.session.stats.quarantined == 0


async def test_bybit_session_follows_laps_without_duplicate_trades(
    bybit_catalog: Catalog, settings: VenueSettings
) -> None:
    short = synthesize(seed=3, seconds=1.0, catalog=bybit_catalog, updates_per_s=20.0)
    server = BybitServer(short, speed=2.0, loop=True, restamp=True)  # a lap every 0.5 s
    await server.start()
    server.start_streaming()
    venue = bybit_catalog.venues["bybit"]
    bus = InProcessBus()
    sub = bus.subscribe("events", maxsize=100_000)
    session = FeedSession(
        venue, BybitAdapter(venue, bybit_catalog), server.url, bus, None, settings=settings
    )
    task = asyncio.create_task(session.run())
    h = Harness(server, session, sub, [])
    try:
        await h.until(lambda st: st.connects >= 3 and h.books_valid())
        await h.until(lambda st: h.books_valid() and server.lap >= 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()
    assert h.feed("duplicate") == [] and h.feed("gap") == []
    trades = [e for e in h.drain() if isinstance(e, Trade)]
    assert len({t.trade_id for t in trades}) == len(trades)
    assert len({int(t.trade_id) // 10**12 for t in trades}) >= 2  # ids of two laps
    assert session.stats.quarantined == 0
