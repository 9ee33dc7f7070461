"""The real FeedSession against AlpacaServer on 127.0.0.1: values ingested, and faults.

Each test awaits what it checks (``FeedSession.wait_for`` on the session's own stats, or the
server's subscriptions); none sleeps. Feed events are read from the bus topic ``events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from divergence.bus import InProcessBus
from divergence.catalog import Catalog
from divergence.clock import parse_rfc3339_ns
from divergence.events import Quote, SessionState, Trade
from divergence.feeds.session import FeedSession
from divergence.settings import VenueSettings
from divergence.venue_servers.alpaca import AlpacaServer
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.alpaca import AlpacaAdapter
from venues.feed_harness import FeedHarness

SYMBOLS = ("AAPL", "NVDA", "TSLA")
STREAMS = [f"{key}:{s}" for key in ("quotes", "trades", "statuses") for s in SYMBOLS]
SETTINGS = VenueSettings(backoff_initial_s=0.05, backoff_max_s=0.2, silence_timeout_s=5.0)
"""Fast reconnects; the adapter's own stale floors (10 s quotes), so no resync noise."""
MakeAdapter = Callable[..., AlpacaAdapter]


@contextlib.asynccontextmanager
async def session_on(
    server: AlpacaServer, adapter: AlpacaAdapter
) -> AsyncIterator[tuple[FeedHarness, asyncio.Task[None]]]:
    """A FeedSession on ``server`` (already started), with its events on a bus."""
    bus = InProcessBus()
    sub = bus.subscribe("events", maxsize=100_000)
    session = FeedSession(adapter.venue, adapter, server.url, bus, None, settings=SETTINGS)
    task = asyncio.create_task(session.run())
    try:
        yield FeedHarness(server, session, sub, ()), task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def server(recording: list[RecordedFrame]) -> AsyncIterator[AlpacaServer]:
    """A server that keeps streaming (60 s at 1x) while the faults are injected."""
    alpaca = AlpacaServer(recording, speed=1.0)
    await alpaca.start()
    yield alpaca
    await alpaca.stop()


def market(harness: FeedHarness) -> list[Quote | Trade | SessionState]:
    return [e for e in harness.drain() if isinstance(e, Quote | Trade | SessionState)]


def recorded_quotes(recording: list[RecordedFrame], symbol: str) -> list[tuple[Any, ...]]:
    """(ts, bid, bid size, ask, ask size) of every recorded quote of ``symbol``."""
    return [
        (parse_rfc3339_ns(q["t"]), q["bp"], Decimal(q["bs"]), q["ap"], Decimal(q["as"]))
        for f in recording
        if f.stream == f"quotes:{symbol}"
        for q in json.loads(f.frame, parse_float=Decimal)
    ]


def quote_row(quote: Quote) -> tuple[Any, ...]:
    return (quote.ts_event, quote.bid_px, quote.bid_sz, quote.ask_px, quote.ask_sz)


async def test_alpaca_session_ingests_the_whole_session(
    recording: list[RecordedFrame], adapter: AlpacaAdapter
) -> None:
    alpaca = AlpacaServer(recording, speed=0)
    await alpaca.start()
    try:
        async with session_on(alpaca, adapter) as (harness, _):
            await alpaca.wait_subscribed(STREAMS)
            alpaca.start_streaming()
            items = sum(len(json.loads(f.frame)) for f in recording)
            await harness.until(lambda st: st.events >= items)
            events = market(harness)
            stats = harness.session.stats
    finally:
        await alpaca.stop()
    assert (stats.connects, stats.quarantined, stats.events) == (1, 0, items)
    assert alpaca.auth_log == ["authenticated"]
    for symbol in SYMBOLS:
        quotes = [quote_row(e) for e in events if isinstance(e, Quote) and e.symbol == symbol]
        assert quotes == recorded_quotes(recording, symbol)
    first = next(e for e in events if isinstance(e, Quote) and e.symbol == "AAPL")
    assert (first.instrument_id, first.bid_px, first.bid_sz, first.ask_px, first.ask_sz) == (
        "AAPL@alpaca",
        Decimal("229.89"),
        Decimal("10"),
        Decimal("229.9"),
        Decimal("9"),
    )
    sessions = [(e.underlying, e.session) for e in events if isinstance(e, SessionState)]
    assert sessions == [("NVDA", "halted"), ("NVDA", "halted"), ("NVDA", "regular")]
    trades = [e for e in events if isinstance(e, Trade)]
    assert {t.side for t in trades} == {"unknown"} and {t.symbol for t in trades} == set(SYMBOLS)
    assert [e.detail for e in harness.feed("connect")] == [alpaca.url]


async def test_alpaca_session_wrong_credentials_stop_the_feed(
    server: AlpacaServer, make_adapter: MakeAdapter
) -> None:
    server.start_streaming()
    async with session_on(server, make_adapter(api_secret="wrong")) as (harness, task):
        await harness.until(lambda st: st.state == "rejected")
        await asyncio.wait_for(task, 5)  # run() returned: no further attempt can follow
        stats = harness.session.stats
        [rejected] = harness.feed("rejected")
        [disconnect] = harness.feed("disconnect")
    assert (stats.state, stats.connects, stats.reconnects, stats.events) == ("rejected", 1, 0, 0)
    assert rejected.detail == "402: auth failed (check the key and secret; feed 'sip'); stopped"
    assert disconnect.detail == f"VenueRejectedError: {rejected.detail.removesuffix('; stopped')}"
    assert server.auth_log == ["402"]


async def test_alpaca_session_without_credentials_is_refused(
    server: AlpacaServer, recorded_catalog: Catalog
) -> None:
    unconfigured = AlpacaAdapter(recorded_catalog.venues["alpaca"], recorded_catalog)
    async with session_on(server, unconfigured) as (harness, task):
        await harness.until(lambda st: st.state == "rejected")
        await asyncio.wait_for(task, 5)
        [rejected] = harness.feed("rejected")
    assert (
        rejected.detail == "401: not authenticated (no credentials were sent; feed 'sip'); stopped"
    )
    assert server.auth_log == []


async def test_alpaca_session_waits_while_another_holds_the_connection(
    server: AlpacaServer, make_adapter: MakeAdapter
) -> None:
    server.start_streaming()
    async with session_on(server, make_adapter()) as (holder, holder_task):
        await holder.until(lambda st: st.events >= 1)
        async with session_on(server, make_adapter(retry_after_s=1.0)) as (second, _):
            await second.until(lambda st: "406" in (st.last_error or ""))
            assert second.session.stats.state == "down"
            holder_task.cancel()  # the other session goes away: the endpoint is free
            with contextlib.suppress(asyncio.CancelledError):
                await holder_task
            await second.until(lambda st: st.connects >= 2 and st.events >= 1)
            [rejected] = second.feed("rejected")
            _, reconnect = second.feed("connect")
            stats = second.session.stats
    assert (rejected.detail, rejected.value) == (
        "406: connection limit exceeded; next attempt in >= 1 s",
        1.0,
    )
    assert reconnect.ts_event - rejected.ts_event >= 1_000_000_000  # waited, no storm
    assert (stats.connects, stats.reconnects, stats.state) == (2, 1, "up")
    assert server.auth_log == ["authenticated", "406", "authenticated"]


async def test_alpaca_session_reconnects_reauths_and_resubscribes(
    server: AlpacaServer, adapter: AlpacaAdapter
) -> None:
    async with session_on(server, adapter) as (harness, _):
        await server.wait_subscribed(STREAMS)
        server.start_streaming()
        await harness.until(lambda st: st.events >= 3)
        assert await server.drop_connections() == 1
        await harness.until(lambda st: st.connects >= 2)
        reconnected = harness.feed("connect")[1].ts_event
        await harness.until(lambda st: any(e.ts_recv > reconnected for e in market(harness)))
        stats = harness.session.stats
        [disconnect] = harness.feed("disconnect")
    assert (stats.connects, stats.disconnects, stats.reconnects, stats.quarantined) == (2, 1, 1, 0)
    assert disconnect.detail.startswith("ConnectionClosedError")
    assert server.auth_log == ["authenticated", "authenticated"]
    assert {stream: server.subscribe_counts[stream] for stream in STREAMS} == dict.fromkeys(
        STREAMS, 2
    )


async def test_alpaca_session_quarantines_a_corrupt_frame_and_goes_on(
    server: AlpacaServer, adapter: AlpacaAdapter, recording: list[RecordedFrame]
) -> None:
    async with session_on(server, adapter) as (harness, _):
        await server.wait_subscribed(STREAMS)
        server.corrupt_next("quotes:AAPL")  # the first AAPL quote arrives cut in half
        server.start_streaming()
        await harness.until(lambda st: st.quarantined >= 1)
        await harness.until(
            lambda st: any(isinstance(e, Quote) and e.symbol == "AAPL" for e in market(harness))
        )
        stats = harness.session.stats
        [quarantine] = harness.feed("quarantine")
        first_aapl = next(e for e in market(harness) if isinstance(e, Quote) and e.symbol == "AAPL")
    assert stats.quarantine_reasons == {"malformed json": 1}
    assert quarantine.detail.startswith("malformed json: ")
    assert stats.connects == 1
    assert quote_row(first_aapl) == recorded_quotes(recording, "AAPL")[1]


async def test_alpaca_session_quarantines_a_refused_symbol(
    server: AlpacaServer, adapter: AlpacaAdapter
) -> None:
    server.refuse("NVDA")
    async with session_on(server, adapter) as (harness, _):
        await harness.until(lambda st: st.quarantined >= 1)
        server.start_streaming()
        await harness.until(lambda st: st.events >= 10)
        [quarantine] = harness.feed("quarantine")
        symbols = {e.symbol for e in market(harness) if isinstance(e, Quote | Trade)}
        stats = harness.session.stats
    assert quarantine.detail == (
        "subscription refused: not subscribed: quotes NVDA, statuses NVDA, trades NVDA"
    )
    assert symbols == {"AAPL", "TSLA"}
    assert (stats.quarantine_reasons, stats.connects) == ({"subscription refused": 1}, 1)


async def test_alpaca_session_keeps_going_after_request_errors(
    server: AlpacaServer, adapter: AlpacaAdapter
) -> None:
    async with session_on(server, adapter) as (harness, _):
        await server.wait_subscribed(STREAMS)
        server.inject('[{"T":"error","code":407,"msg":"slow client"}]')
        server.inject('[{"T":"error","code":405,"msg":"symbol limit exceeded"}]')
        await harness.until(lambda st: st.quarantined >= 2)
        server.start_streaming()
        await harness.until(lambda st: st.events >= 1)
        stats = harness.session.stats
    assert stats.quarantine_reasons == {"venue error": 1, "subscription refused": 1}
    assert (stats.connects, stats.state) == (1, "up")
