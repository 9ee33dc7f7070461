"""The real FeedSession against MassiveServer on 127.0.0.1: ingestion and faults.

The server plays the committed session at 2x speed (30 s of data, far longer than any test
here), so data keeps flowing while a fault is injected; the session's feed events are read
from the bus topic ``events``. Every wait is on an event or a stats predicate, never a sleep.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect

from divergence.catalog import Catalog
from divergence.events import Event, Quote, Trade
from divergence.settings import VenueSettings
from divergence.venue_servers.massive import MassiveServer
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.massive import MassiveAdapter
from venues.feed_harness import FAST, FeedHarness, running_feed

PARAMS = [f"{c}.{s}" for c in "QT" for s in ("AAPL", "NVDA", "TSLA")]
QUIET = {**FAST, "stale_min_s": 5.0}
"""Fast reconnects, but no stale resubscription during a test (trades are seconds apart)."""
RETRY_AFTER_S = 0.3


@pytest.fixture
def settings() -> VenueSettings:
    return VenueSettings(**QUIET, api_key="test-key")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def harness(
    recording: list[RecordedFrame],
    recorded_catalog: Catalog,
    settings: VenueSettings,
    server_options: dict[str, Any],
) -> AsyncIterator[FeedHarness]:
    venue = recorded_catalog.venues["massive"]
    adapter = MassiveAdapter(venue, recorded_catalog, retry_after_s=RETRY_AFTER_S)
    adapter.configure(settings)  # what the runtime does before building the session
    server = MassiveServer(recording, speed=2.0, **server_options)
    async with running_feed(server, venue, adapter, settings, ()) as h:
        yield h


def wire_values(
    recording: list[RecordedFrame],
) -> dict[tuple[str, str, int], list[tuple[Any, ...]]]:
    """What the recording says, read without the adapter: by (ev, sym, t in ns), the values."""
    values: dict[tuple[str, str, int], list[tuple[Any, ...]]] = {}
    for frame in recording:
        for i in json.loads(frame.frame, parse_float=Decimal):
            if i["ev"] == "Q":
                row: tuple[Any, ...] = (i["bp"], i["bs"], i["ap"], i["as"])
            else:
                via = f"{i['trfi']}:" if "trfi" in i else ""
                row = (i["p"], i["s"], "unknown", f"{i['x']}:{via}{i['i']}")
            values.setdefault((i["ev"], i["sym"], i["t"] * 1_000_000), []).append(row)
    return values


def streaming(h: FeedHarness, after: int = 0) -> bool:
    """Every declared stream has had a message since the ``after``-th connect."""
    return h.session.stats.connects > after and all(
        s.messages > 0 and s.state == "live" for s in h.session.stats.streams.values()
    )


def market(events: list[Event]) -> list[Quote | Trade]:
    return [e for e in events if isinstance(e, Quote | Trade)]


# --------------------------------------------------------------- ingestion
async def test_massive_session_ingests_the_wire_values(
    harness: FeedHarness, recording: list[RecordedFrame]
) -> None:
    await harness.until(lambda st: all(s.messages > 0 for s in st.streams.values()))
    stats = harness.session.stats
    assert (stats.connects, stats.quarantined, stats.state) == (1, 0, "up")
    assert [e.detail for e in harness.feed("connect")] == [harness.server.url]
    wire = wire_values(recording)
    events = market(harness.drain())
    assert {e.instrument_id for e in events} == {f"{s}@massive" for s in ("AAPL", "NVDA", "TSLA")}
    for event in events:  # each event carries its recorded item's values, exactly
        if isinstance(event, Quote):
            key = ("Q", event.symbol, event.ts_event)
            row: tuple[Any, ...] = (event.bid_px, event.bid_sz, event.ask_px, event.ask_sz)
        else:
            key = ("T", event.symbol, event.ts_event)
            row = (event.price, event.size, event.side, event.trade_id)
        assert row in wire[key], (event, wire.get(key))
    tsla = [e for e in events if isinstance(e, Quote) and e.symbol == "TSLA"]
    assert tsla and all(e.bid_sz % 40 == 0 and e.ask_sz % 40 == 0 for e in tsla)  # shares
    assert all(339 < e.bid_px < e.ask_px < 341 for e in tsla)
    assert (harness.server.auth_attempts, dict(harness.server.subscribe_counts)) == (
        1,
        dict.fromkeys(PARAMS, 1),
    )


# ------------------------------------------------------------------ faults
@pytest.mark.parametrize("server_options", [{"api_key": "another-key"}])
async def test_massive_session_stops_on_a_wrong_key(harness: FeedHarness) -> None:
    await harness.until(lambda st: st.state == "rejected")
    [rejected] = harness.feed("rejected")
    assert (rejected.detail, rejected.value) == ("auth_failed: authentication failed; stopped", 0)
    assert len(harness.feed("disconnect")) == 1
    stats = harness.session.stats
    assert (stats.connects, stats.reconnects, stats.events, stats.quarantined) == (1, 0, 0, 0)
    assert harness.server.auth_attempts == 1
    assert sum(harness.server.subscribe_counts.values()) == 0


async def test_massive_session_reconnects_reauths_and_resubscribes(harness: FeedHarness) -> None:
    await harness.until(lambda st: streaming(harness))
    assert await harness.server.drop_connections() == 1
    await harness.until(lambda st: st.connects >= 2)
    await harness.until(lambda st: streaming(harness, after=1))
    stats = harness.session.stats
    assert (stats.connects, stats.disconnects, stats.reconnects) == (2, 1, 1)
    assert len(harness.feed("disconnect")) == 1
    server = harness.server
    assert (server.auth_attempts, dict(server.subscribe_counts)) == (2, dict.fromkeys(PARAMS, 2))
    [second] = harness.feed("connect")[1:]
    assert second.detail.startswith(f"{server.url}; down ")
    reconnected_ns = second.ts_event
    after = [e for e in market(harness.drain()) if e.ts_recv > reconnected_ns]
    assert {e.symbol for e in after} == {"AAPL", "NVDA", "TSLA"}


async def test_massive_session_restarts_a_silent_socket(harness: FeedHarness) -> None:
    await harness.until(lambda st: streaming(harness))
    assert harness.server.silence() == 1
    await harness.until(lambda st: st.silent_restarts >= 1 and st.connects >= 2)
    await harness.until(lambda st: streaming(harness, after=1))
    [silent] = harness.feed("silent")
    assert (silent.detail, silent.value) == ("no frame for 1.0 s", 1.0)
    assert harness.server.auth_attempts == 2


async def test_massive_session_waits_when_another_session_takes_the_connection(
    harness: FeedHarness,
) -> None:
    """``max_connections`` is not fatal: the session waits ``retry_after_s``, then takes the
    cluster's one connection back (the other client is displaced in turn)."""
    await harness.until(lambda st: streaming(harness))
    async with connect(harness.server.url) as other:
        await other.recv()  # connected
        await other.send(json.dumps({"action": "auth", "params": "test-key"}))
        await harness.until(lambda st: len(harness.feed("rejected")) == 1)
        [rejected] = harness.feed("rejected")
        assert rejected.detail.startswith(
            "max_connections: Maximum number of websocket connections exceeded."
        )
        assert rejected.detail.endswith("; next attempt in >= 0.3 s")
        assert rejected.value == RETRY_AFTER_S
        await harness.until(lambda st: streaming(harness, after=1))
        replies = [json.loads(await other.recv())[0]["status"] for _ in range(2)]
    assert replies == ["auth_success", "max_connections"]
    stats = harness.session.stats
    assert (stats.connects, stats.state, stats.quarantined) == (2, "up", 0)
    [_, back] = harness.feed("connect")
    assert back.value >= RETRY_AFTER_S  # seconds down: it waited at least retry_after_s


async def test_massive_session_quarantines_a_corrupt_frame_and_continues(
    harness: FeedHarness,
) -> None:
    await harness.until(lambda st: streaming(harness))
    harness.server.corrupt_next("Q.AAPL")
    await harness.until(lambda st: st.quarantined == 1)
    [quarantine] = harness.feed("quarantine")
    assert quarantine.detail.startswith("malformed json: ")
    stream = harness.session.stats.streams["quote:AAPL"]
    seen = stream.messages
    await harness.until(lambda st: st.streams["quote:AAPL"].messages > seen)
    later = [e for e in market(harness.drain()) if e.ts_recv > quarantine.ts_event]
    assert any(isinstance(e, Quote) and e.symbol == "AAPL" for e in later)
    stats = harness.session.stats
    assert (stats.connects, stats.quarantine_reasons) == (1, {"malformed json": 1})


async def test_massive_session_quarantines_hostile_frames(harness: FeedHarness) -> None:
    await harness.until(lambda st: streaming(harness))
    unknown = '[{"ev":"T","sym":"MSFT","i":"1","x":12,"p":400.1,"s":5,"t":1786372200000}]'
    for text in (
        "garbage \x00",
        unknown,
        '[{"ev":"AM","sym":"AAPL"}]',
        '[{"ev":"status","status":"error","message":"not authorized"}]',
        '[{"ev":"Q","sym":"AAPL","bp":229.9,"bs":1,"ap":229.91,"as":1,"t":1786372200}]',
    ):
        assert harness.server.inject(text) == 1
    await harness.until(lambda st: st.quarantined >= 5)
    stats = harness.session.stats
    assert stats.quarantine_reasons == {
        "malformed json": 1,
        "unknown symbol": 1,
        "unknown event": 1,
        "subscription refused": 1,
        "bad timestamp": 1,
    }
    assert (stats.connects, stats.state) == (1, "up")


@pytest.mark.parametrize("settings", [VenueSettings(**FAST, api_key="test-key")])
async def test_massive_session_resubscribes_a_stale_stream(harness: FeedHarness) -> None:
    await harness.until(lambda st: streaming(harness))
    harness.server.skip_next("T.TSLA", 10_000)  # the stream dies, the socket stays busy
    await harness.until(lambda st: st.streams["trade:TSLA"].stale_periods >= 1)
    await harness.server.wait_subscribed(["T.TSLA"])
    await harness.until(lambda st: harness.server.subscribe_counts["T.TSLA"] >= 2)
    stale = harness.feed("stale", "trade:TSLA")
    assert stale and stale[0].detail.startswith("silent ")
    assert harness.session.stats.connects == 1
