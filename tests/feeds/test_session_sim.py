"""FeedSession against the real simulator over 127.0.0.1 (no mocks)."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from divergence.bus import InProcessBus
from divergence.catalog import Catalog
from divergence.clock import now_ns
from divergence.events import FeedEvent, Heartbeat, Quote
from divergence.feeds.session import FeedSession
from divergence.settings import SimSettings, VenueSettings
from divergence.sim.frames import tick_frames
from divergence.sim.market import generate_ticks
from divergence.sim.scenario import OCT10_SCENARIO
from divergence.sim.server import SimServer
from divergence.store.archive import ArchiveWriter, read_archive
from divergence.venues.sim import SimAdapter

SIMX_A = {"AAPLx@simx-a", "TSLAx@simx-a", "NVDAx@simx-a"}


def feed(catalog: Catalog, venue: str, url: str, bus: InProcessBus, **kw: Any) -> FeedSession:
    v = catalog.venues[venue]
    archive = kw.pop("archive", None)
    settings = VenueSettings(**kw)
    return FeedSession(v, SimAdapter(v, catalog), url, bus, archive, settings)


def market_events(collector: Any) -> list[Any]:
    return [e for e in collector.events if not isinstance(e, FeedEvent)]


def feed_events(collector: Any) -> list[FeedEvent]:
    return [e for e in collector.events if isinstance(e, FeedEvent)]


def quotes_of(collector: Any) -> list[Quote]:
    return [e for e in collector.events if isinstance(e, Quote)]


async def test_session_sim_events_reach_bus_with_instrument_ids(
    sim: SimServer,
    bus: InProcessBus,
    collector: Any,
    catalog: Catalog,
    background: Any,
    sim_settings: SimSettings,
    tmp_path: Path,
) -> None:
    archive = ArchiveWriter(tmp_path / "archive")
    session = feed(catalog, "simx-a", sim.url_for("simx-a"), bus, archive=archive)
    background(session.run())
    await sim.wait_subscribed(["simx-a"], timeout=5)
    background(sim.run())
    await collector.wait(lambda c: {q.instrument_id for q in quotes_of(c)} == SIMX_A)
    await collector.wait(lambda c: any(isinstance(e, Heartbeat) for e in c.events))
    # the first AAPLx quote is exactly the generator's first AAPLx/USD frame
    tick0 = next(
        generate_ticks(
            catalog,
            OCT10_SCENARIO,
            seed=sim_settings.seed,
            tick_ms=sim_settings.tick_ms,
            speed=sim_settings.speed,
        )
    )
    wire = next(json.loads(f.text) for f in tick_frames(tick0) if f.key == "AAPLx/USD")
    first = next(q for q in quotes_of(collector) if q.instrument_id == "AAPLx@simx-a")
    assert (first.ts_event, first.symbol, first.venue) == (wire["ts"], "AAPLx/USD", "simx-a")
    assert (first.bid_px, first.bid_sz, first.ask_px, first.ask_sz) == tuple(
        Decimal(wire[k]) for k in ("bid", "bq", "ask", "aq")
    )
    assert {e.venue for e in collector.events} == {"simx-a"}
    stats = session.stats
    assert stats.connected and stats.connects == 1 and stats.quarantined == 0
    assert stats.last_event_ts == max(e.ts_event for e in market_events(collector))
    connect = feed_events(collector)[0]
    assert (connect.venue, connect.stream, connect.event) == ("simx-a", "", "connect")
    assert connect.detail == sim.url_for("simx-a") and connect.value == 0.0
    archive.flush()
    archived = list(read_archive(archive.path))
    assert json.loads(archived[0].frame) == {"op": "hello", "venue": "simx-a"}
    assert len(archived) >= stats.frames - 1  # every frame but possibly the one in flight


HOSTILE: list[tuple[str, str]] = [
    ('{"ch":"quote","sym":"AAPLx/USD","ts":1760126170000000000,', "malformed json"),
    (
        '{"ch":"quote","sym":"AAPLx/USD","ts":1760126170000000000,'
        '"bid":"NaN","bq":"1","ask":"245.30","aq":"1"}',
        "non-finite price",
    ),
    (
        '{"ch":"quote","sym":"AAPLx/USD","ts":1760126170000000000,'
        '"bid":"-245.10","bq":"1","ask":"245.30","aq":"1"}',
        "non-positive price",
    ),
    (
        '{"ch":"quote","sym":"AAPLx/USD","ts":1760126170000000000,'
        '"bid":"245.40","bq":"1","ask":"245.30","aq":"1"}',
        "crossed quote",
    ),
    (
        '{"ch":"quote","sym":"MSFTx/USD","ts":1760126170000000000,'
        '"bid":"245.10","bq":"1","ask":"245.30","aq":"1"}',
        "unknown symbol",
    ),
    ("{" + "x" * 1_000_000, "malformed json"),
]
MARKER = (
    '{"ch":"quote","sym":"TSLAx/USD","ts":1760126171234567890,'
    '"bid":"431.07","bq":"3.141592","ask":"431.09","aq":"2.718281"}'
)


async def test_session_sim_quarantines_hostile_frames_and_keeps_going(
    sim: SimServer,
    bus: InProcessBus,
    collector: Any,
    catalog: Catalog,
    background: Any,
    tmp_path: Path,
) -> None:
    archive = ArchiveWriter(tmp_path / "archive")
    session = feed(catalog, "simx-a", sim.url_for("simx-a"), bus, archive=archive)
    background(session.run())
    await sim.wait_subscribed(["simx-a"], timeout=5)
    background(sim.run())
    await collector.wait(lambda c: len(quotes_of(c)) >= 3)
    for frame, _ in HOSTILE:
        assert await sim.inject("simx-a", frame) == 1
    assert await sim.inject("simx-a", MARKER) == 1
    await collector.wait(lambda c: any(q.ts_event == 1760126171234567890 for q in quotes_of(c)))
    marker = next(q for q in quotes_of(collector) if q.ts_event == 1760126171234567890)
    assert (marker.instrument_id, marker.bid_px, marker.bid_sz) == (
        "TSLAx@simx-a",
        Decimal("431.07"),
        Decimal("3.141592"),
    )
    assert (marker.ask_px, marker.ask_sz) == (Decimal("431.09"), Decimal("2.718281"))
    expected = Counter(reason for _, reason in HOSTILE)
    await session.wait_for(lambda s: s.quarantined >= len(HOSTILE), timeout=5)
    await collector.wait(lambda c: len(c.records) >= len(HOSTILE))
    assert Counter(r.reason for r in collector.records) == expected
    assert session.stats.quarantine_reasons == dict(expected)
    junk = next(r for r in collector.records if len(r.raw) > 60_000)
    assert junk.raw.endswith("...[truncated 934465 chars]")  # 1_000_001 - 65_536
    # regular frames keep flowing after the hostile ones
    seen = len(quotes_of(collector))
    await collector.wait(lambda c: len(quotes_of(c)) >= seen + 6)
    archive.flush()
    assert any(len(f.frame) == 1_000_001 for f in read_archive(archive.path))


async def test_session_sim_reconnects_after_server_drop(
    sim: SimServer,
    bus: InProcessBus,
    collector: Any,
    catalog: Catalog,
    background: Any,
) -> None:
    session = feed(catalog, "simx-a", sim.url_for("simx-a"), bus, backoff_initial_s=0.05)
    background(session.run())
    await sim.wait_subscribed(["simx-a"], timeout=5)
    background(sim.run())
    await collector.wait(lambda c: len(quotes_of(c)) >= 3)
    assert await sim.drop_clients("simx-a") == 1
    dropped_at = now_ns()
    await session.wait_for(lambda s: s.reconnects >= 1 and s.connects >= 2, timeout=5)
    await collector.wait(
        lambda c: {q.instrument_id for q in quotes_of(c) if q.ts_recv > dropped_at} == SIMX_A
    )
    assert sim.subscribe_counts["simx-a"] == 2
    assert "ConnectionClosed" in (session.stats.last_error or "")
    kinds = [(e.event, e.stream) for e in feed_events(collector)]
    assert kinds[:3] == [("connect", ""), ("disconnect", ""), ("connect", "")]
    disconnect = feed_events(collector)[1]
    assert disconnect.detail == session.stats.last_error
    assert session.stats.disconnects == 1 and session.stats.state == "up"


async def test_session_sim_reconnects_to_a_restarted_server(
    sim: SimServer,
    bus: InProcessBus,
    collector: Any,
    catalog: Catalog,
    background: Any,
    sim_settings: SimSettings,
) -> None:
    session = feed(
        catalog, "simx-a", sim.url_for("simx-a"), bus, backoff_initial_s=0.05, backoff_max_s=0.2
    )
    background(session.run())
    await sim.wait_subscribed(["simx-a"], timeout=5)
    await sim.stop()
    await session.wait_for(lambda s: not s.connected and s.reconnects >= 2, timeout=5)
    restarted = SimServer(sim_settings.model_copy(update={"port": sim.port}), catalog)
    await restarted.start()
    try:
        await restarted.wait_subscribed(["simx-a"], timeout=5)
        background(restarted.run())
        await collector.wait(lambda c: {q.instrument_id for q in quotes_of(c)} == SIMX_A)
        assert session.stats.connected and session.stats.connects == 2
        reconnect = [e for e in feed_events(collector) if e.event == "connect"][-1]
        assert reconnect.value > 0 and "failed attempts" in reconnect.detail
    finally:
        await restarted.stop()
