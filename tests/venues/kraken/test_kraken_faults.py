"""Faults through the real FeedSession against KrakenServer: each ends with VALID books.

The server plays the committed session at 2x speed (30 s of data, far longer than any
test here), so data keeps flowing while a fault is injected; the session's feed events
are read from the bus topic ``events``. Kraken books carry no sequence: a skipped or
corrupted update shows up as a checksum mismatch, and the resync is an unsubscribe plus
subscribe of the one book.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from divergence.catalog import Catalog
from divergence.events import FxRate, Quote, Trade
from divergence.settings import VenueSettings
from divergence.venue_servers.kraken import KrakenServer
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.kraken import KrakenAdapter
from venues.feed_harness import FAST, FeedHarness, running_feed

SYMBOLS = ("AAPLx/USD", "NVDAx/USD", "TSLAx/USD")
Harness = FeedHarness


@pytest.fixture
def settings() -> VenueSettings:
    return VenueSettings(**FAST)


@pytest.fixture
async def harness(
    recording: list[RecordedFrame], recorded_catalog: Catalog, settings: VenueSettings
) -> AsyncIterator[Harness]:
    venue = recorded_catalog.venues["kraken"]
    adapter = KrakenAdapter(venue, recorded_catalog)
    server = KrakenServer(recording, speed=2.0)
    async with running_feed(server, venue, adapter, settings, SYMBOLS) as h:
        yield h


async def test_kraken_session_streams_every_declared_stream(harness: Harness) -> None:
    streams = harness.session.adapter.streams()
    await harness.until(lambda st: all(st.streams[s].messages > 0 for s in streams))
    stats = harness.session.stats
    assert (stats.quarantined, stats.checksum_mismatches, stats.connects) == (0, 0, 1)
    events = harness.drain()
    quote = next(e for e in events if isinstance(e, Quote) and e.symbol == "AAPLx/USD")
    assert 225 < quote.bid_px < quote.ask_px < 235
    rates = {e.currency: e.rate_usd for e in events if isinstance(e, FxRate)}
    assert set(rates) == {"USDC", "USDT"} and all(0.99 < r < 1.01 for r in rates.values())
    trade = next(e for e in events if isinstance(e, Trade) and e.symbol == "TSLAx/USD")
    assert 330 < trade.price < 350 and trade.side in ("buy", "sell")
    assert [e.detail for e in harness.feed("connect")] == [harness.server.url]


async def test_kraken_session_reconnects_after_dropped_connections(harness: Harness) -> None:
    assert await harness.server.drop_connections() == 1
    await harness.until(lambda st: st.connects >= 2 and harness.books_valid())
    stats = harness.session.stats
    assert (stats.disconnects, stats.reconnects, stats.checksum_mismatches) == (1, 1, 0)
    assert len(harness.feed("disconnect")) == 1
    invalid = harness.feed("book_invalid")
    assert sorted(e.stream for e in invalid) == [f"book:{s}" for s in SYMBOLS]
    assert {e.detail for e in invalid} == {"new connection; awaiting snapshot"}
    await harness.until(lambda st: len(harness.feed("resync")) == 3)
    resyncs = harness.feed("resync")
    assert sorted(e.stream for e in resyncs) == [f"book:{s}" for s in SYMBOLS]
    assert all(e.detail.startswith("snapshot after ") for e in resyncs)


async def test_kraken_session_restarts_a_silent_socket(harness: Harness) -> None:
    assert harness.server.silence() == 1  # no data, no pong, no heartbeat
    await harness.until(lambda st: st.silent_restarts >= 1 and st.connects >= 2)
    await harness.until(lambda st: harness.books_valid())
    [silent] = harness.feed("silent")
    assert (silent.detail, silent.value) == ("no frame for 1.0 s", 1.0)
    assert len(harness.feed("disconnect")) == 1


async def test_kraken_session_resyncs_a_diverged_book(harness: Harness) -> None:
    """A skipped update leaves the local book behind: the next checksum exposes it."""
    stream = "book:AAPLx/USD"
    before = harness.server.subscribe_counts[stream]
    for _ in range(5):  # a later update may overwrite the skipped levels: skip another
        harness.server.skip_next(stream)
        with contextlib.suppress(TimeoutError):
            await harness.until(lambda st: st.checksum_mismatches >= 1, timeout=3)
            break
    await harness.until(lambda st: st.resyncs >= 1 and harness.books_valid())
    [mismatch] = harness.feed("checksum_mismatch", stream)
    assert mismatch.detail.startswith("venue checksum ")
    assert [e.detail for e in harness.feed("book_invalid", stream)] == [
        f"checksum mismatch: {mismatch.detail}"
    ]
    [resync] = harness.feed("resync", stream)
    assert resync.detail.startswith("snapshot after ") and resync.value > 0
    assert harness.server.subscribe_counts[stream] == before + 1  # unsubscribe + subscribe
    assert (harness.session.stats.gaps, harness.session.stats.quarantined) == (0, 0)


async def test_kraken_session_resyncs_after_a_wrong_checksum(harness: Harness) -> None:
    stream = "book:NVDAx/USD"
    harness.server.corrupt_next(stream)  # every bit of the next checksum flipped
    await harness.until(lambda st: st.resyncs >= 1 and harness.books_valid())
    [mismatch] = harness.feed("checksum_mismatch", stream)
    venue, computed = (int(x) for x in mismatch.detail[15:].split(", computed "))
    assert venue == computed ^ 0xFFFFFFFF
    assert len(harness.feed("resync", stream)) == 1
    assert harness.session.stats.quarantined == 0


async def test_kraken_session_quarantines_hostile_frames_and_keeps_going(harness: Harness) -> None:
    nan_book = (
        '{"channel":"book","type":"update","data":[{"symbol":"AAPLx/USD","bids":'
        '[{"price":NaN,"qty":1}],"asks":[],"checksum":1,"timestamp":"2026-08-10T14:30:01Z"}]}'
    )
    foreign = nan_book.replace("NaN", "1.5").replace("AAPLx/USD", "BTC/USD")
    refusal = (
        '{"error":"Currency pair not supported BTC/USD","method":"subscribe","req_id":1,'
        '"success":false,"symbol":"BTC/USD","time_in":"2026-08-10T14:30:01.000000Z",'
        '"time_out":"2026-08-10T14:30:01.000050Z"}'
    )
    for text in ("garbage \x00", '{"channel":"book","type":"upd', nan_book, foreign, refusal):
        assert harness.server.inject(text) == 1
    await harness.until(lambda st: st.quarantined >= 5)
    stats = harness.session.stats
    assert stats.quarantine_reasons == {
        "malformed json": 3,
        "unknown symbol": 1,
        "subscription refused": 1,
    }
    assert (stats.connects, stats.checksum_mismatches) == (1, 0)
    assert len(harness.feed("quarantine")) == 5
    assert harness.books_valid()


@pytest.mark.parametrize("settings", [VenueSettings(**FAST, max_frame_bytes=65_536)])
async def test_kraken_session_reconnects_after_an_oversized_frame(harness: Harness) -> None:
    harness.server.inject('{"channel":"book","pad":"' + "x" * 100_000 + '"}')
    await harness.until(lambda st: st.connects >= 2 and harness.books_valid())
    [disconnect] = harness.feed("disconnect")
    assert "1009" in disconnect.detail
    assert harness.session.stats.quarantined == 0
