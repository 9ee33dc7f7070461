"""Faults through the real FeedSession against the JSON-RPC node; each ends recovered.

The node does not stream on its own here: tests produce blocks with ``mine`` so that
"logs produced while the client was away" is exact. The adapter pings with
``eth_blockNumber`` every 0.2 s, so a quiet chain is not a silent socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from divergence.bus import InProcessBus, Subscription
from divergence.catalog import Catalog
from divergence.events import Event, FeedEvent, PoolState, Trade
from divergence.feeds.health import FeedStats
from divergence.feeds.session import FeedSession
from divergence.settings import VenueSettings
from divergence.venue_servers.evm import EvmRpcServer
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.uniswap_v3 import UniswapV3Adapter

STREAMS = ("pool:AAPLx/USDC", "pool:TSLAx/USDC")
AAPL_POOL = "0x1111111111111111111111111111111111110a01"
FIRST = 21_600_000
FAST = {
    "ping_interval_s": 0.2,
    "silence_timeout_s": 1.0,
    "stale_min_s": 60.0,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.2,
}


def trade_ids(logs: list[dict[str, Any]]) -> list[str]:
    return [
        f"{lg['transactionHash']}:{int(lg['logIndex'], 16)}" for lg in logs if not lg["removed"]
    ]


@dataclass
class Harness:
    server: EvmRpcServer
    session: FeedSession
    sub: Subscription
    seen: list[Event]

    def drain(self) -> list[Event]:
        while not self.sub.queue.empty():
            self.seen.extend(self.sub.queue.get_nowait())
        return self.seen

    def feed(self, kind: str) -> list[FeedEvent]:
        return [e for e in self.drain() if isinstance(e, FeedEvent) and e.event == kind]

    def trades(self) -> list[str]:
        return [e.trade_id for e in self.drain() if isinstance(e, Trade)]

    async def until(self, predicate: Callable[[FeedStats], bool], timeout: float = 10) -> None:  # noqa: ASYNC109
        await self.session.wait_for(predicate, timeout=timeout)

    async def head_known(self) -> None:
        """Wait for an ``eth_blockNumber`` reply: from then on a reconnect backfills."""
        adapter = self.session.adapter
        assert isinstance(adapter, UniswapV3Adapter)
        await self.until(lambda st: adapter.head is not None)

    async def live(self, connects: int = 1) -> None:
        """Connected ``connects`` times and subscribed to both pools on the latest socket."""
        await self.until(lambda st: st.connects >= connects and st.connected)
        await self.server.wait_subscribed(STREAMS, timeout=10)


async def start(
    recording: list[RecordedFrame], catalog: Catalog, settings: VenueSettings
) -> Harness:
    server = EvmRpcServer(recording, speed=0)
    await server.start()
    venue = catalog.venues["uniswap-eth"]
    bus = InProcessBus()
    sub = bus.subscribe("events", maxsize=100_000)
    session = FeedSession(
        venue, UniswapV3Adapter(venue, catalog), server.url, bus, None, settings=settings
    )
    return Harness(server, session, sub, [])


@pytest.fixture
async def harness(
    uni_recording: list[RecordedFrame], uni_catalog: Catalog
) -> AsyncIterator[Harness]:
    h = await start(uni_recording, uni_catalog, VenueSettings(**FAST))
    task = asyncio.create_task(h.session.run())
    await h.live()
    yield h
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await h.server.stop()


async def test_uniswap_session_streams_pools_and_trades(harness: Harness) -> None:
    produced = harness.server.mine(blocks=6)
    await harness.until(lambda st: harness.trades() == trade_ids(produced))
    stats = harness.session.stats
    assert (stats.quarantined, stats.connects, stats.silent_restarts) == (0, 1, 0)
    assert {s for s, st in stats.streams.items() if st.state == "live"} == {
        "pool:AAPLx/USDC",
        "trade:AAPLx/USDC",
        "pool:TSLAx/USDC",
        "trade:TSLAx/USDC",
    }
    states = [e for e in harness.drain() if isinstance(e, PoolState)]
    assert [e.block_hash for e in states] == [lg["blockHash"] for lg in produced]
    assert all(225 < e.price < 235 for e in states if e.symbol == "AAPLx/USDC")
    assert all(420 < e.price < 440 for e in states if e.symbol == "TSLAx/USDC")


async def test_uniswap_session_backfills_after_dropped_connections(harness: Harness) -> None:
    before = harness.server.mine(blocks=3)
    await harness.until(lambda st: harness.trades() == trade_ids(before))
    assert await harness.server.drop_connections() == 1
    missed = harness.server.mine(blocks=5)  # the socket is gone: nobody receives these
    await harness.until(lambda st: st.connects >= 2 and len(harness.feed("backfill")) == 1)
    assert harness.trades() == trade_ids(before) + trade_ids(missed)
    [backfill] = harness.feed("backfill")
    assert backfill.value == len(missed)
    assert backfill.detail == (
        f"eth_getLogs from block {int(before[-1]['blockNumber'], 16)}: "
        f"{len(missed) + sum(lg['blockNumber'] == before[-1]['blockNumber'] for lg in before)} "
        f"logs, {len(missed)} not seen"
    )
    stats = harness.session.stats
    assert (stats.disconnects, stats.reconnects, stats.quarantined) == (1, 1, 0)
    after = harness.server.mine(blocks=2)  # and live again
    await harness.until(lambda st: harness.trades()[-len(after) :] == trade_ids(after))


async def test_uniswap_session_restarts_a_silent_node(harness: Harness) -> None:
    before = harness.server.mine(blocks=2)
    await harness.until(lambda st: harness.trades() == trade_ids(before))
    assert harness.server.silence() == 1  # no notifications and no eth_blockNumber replies
    missed = harness.server.mine(blocks=3)
    await harness.until(lambda st: st.silent_restarts >= 1 and len(harness.feed("backfill")) == 1)
    [silent] = harness.feed("silent")
    assert (silent.detail, silent.value) == ("no frame for 1.0 s", 1.0)
    assert harness.trades() == trade_ids(before) + trade_ids(missed)


async def test_uniswap_session_recovers_a_skipped_log_on_the_next_backfill(
    harness: Harness,
) -> None:
    """A notification lost in the newest block is found by the backfill after a reconnect."""
    await harness.head_known()
    harness.server.skip_next("pool:AAPLx/USDC")
    produced: list[dict[str, Any]] = []
    while not any(lg["address"] == AAPL_POOL for lg in produced):
        produced += harness.server.mine(blocks=1)
    [skipped] = trade_ids([lg for lg in produced if lg["address"] == AAPL_POOL])
    delivered = [t for t in trade_ids(produced) if t != skipped]
    await harness.until(lambda st: harness.trades() == delivered)
    await harness.server.drop_connections()
    await harness.until(lambda st: len(harness.feed("backfill")) == 1)
    assert harness.trades() == [*delivered, skipped]
    assert harness.feed("backfill")[0].value == 1


async def test_uniswap_session_quarantines_corrupt_and_hostile_frames(harness: Harness) -> None:
    harness.server.corrupt_next("pool:TSLAx/USDC")
    produced = harness.server.mine(blocks=4)
    corrupted = next(lg for lg in produced if lg["address"] != AAPL_POOL)
    harness.server.inject("{not json")
    harness.server.inject(
        '{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x1"'
    )
    error = {"code": -32005, "message": "limit exceeded"}
    harness.server.inject(json.dumps({"jsonrpc": "2.0", "id": f"sub:{AAPL_POOL}", "error": error}))
    await harness.until(lambda st: st.quarantined >= 4)
    assert harness.session.stats.quarantine_reasons == {
        "bad data": 1,
        "malformed json": 2,
        "subscription refused": 1,
    }
    expected = [t for t in trade_ids(produced) if t != trade_ids([corrupted])[0]]
    assert harness.trades() == expected
    quarantines = [e.detail for e in harness.feed("quarantine")]
    assert quarantines[0].startswith("bad data: expected 5 words (320 hex digits), found 256")
    more = harness.server.mine(blocks=2)  # the feed carries on
    await harness.until(lambda st: harness.trades() == expected + trade_ids(more))
    assert harness.session.stats.connects == 1


async def test_uniswap_session_reconnects_after_a_huge_frame(harness: Harness) -> None:
    await harness.head_known()
    harness.server.inject('{"jsonrpc":"2.0","id":1,"result":"' + "0" * (4 * 2**20) + '"}')
    missed = harness.server.mine(blocks=2)
    await harness.until(lambda st: st.connects >= 2 and len(harness.feed("backfill")) == 1)
    assert "1009" in (harness.session.stats.last_error or "")  # message too big
    assert harness.trades() == trade_ids(missed)
    [backfill] = harness.feed("backfill")  # from the head the last ping reported
    assert backfill.value == len(missed)
    assert backfill.detail.startswith(f"eth_getLogs from block {FIRST - 1}: ")


async def test_uniswap_session_reorg_is_retracted(
    harness: Harness, uni_recording: list[RecordedFrame]
) -> None:
    orphan_hash = next(f.frame["blockHash"] for f in uni_recording if f.frame["removed"])
    produced: list[dict[str, Any]] = []
    while not any(lg["removed"] for lg in produced):
        produced += harness.server.mine(blocks=1)
    produced += harness.server.mine(blocks=1)  # the replacement block
    await harness.until(
        lambda st: harness.trades() == trade_ids([lg for lg in produced if not lg["removed"]])
    )
    await harness.until(
        lambda st: len(harness.feed("reorg")) == sum(lg["removed"] for lg in produced)
    )
    retracted = [e for e in harness.drain() if isinstance(e, PoolState) and e.removed]
    assert {e.block_hash for e in retracted} == {orphan_hash}
    assert [e.stream for e in harness.feed("reorg")] == [
        f"pool:{'AAPLx/USDC' if lg['address'] == AAPL_POOL else 'TSLAx/USDC'}"
        for lg in produced
        if lg["removed"]
    ]


async def test_uniswap_session_resubscribes_a_stale_pool(
    uni_recording: list[RecordedFrame], uni_catalog: Catalog
) -> None:
    h = await start(uni_recording, uni_catalog, VenueSettings(**{**FAST, "stale_min_s": 0.3}))
    task = asyncio.create_task(h.session.run())
    try:
        await h.live()
        first = h.server.mine(blocks=1)
        await h.until(lambda st: h.trades() == trade_ids(first))
        counts = dict(h.server.subscribe_counts)
        await h.until(lambda st: len(h.feed("backfill")) >= 2)  # quiet chain: both pools stale
        stale = {e.stream for e in h.feed("stale")}
        assert {"pool:AAPLx/USDC", "pool:TSLAx/USDC"} <= stale
        assert all(h.server.subscribe_counts[s] > counts[s] for s in STREAMS)
        backfills = {e.stream for e in h.feed("backfill")}
        assert backfills <= {"pool:AAPLx/USDC", "pool:TSLAx/USDC"}
        more = h.server.mine(blocks=2)
        await h.until(lambda st: h.trades()[-len(trade_ids(more)) :] == trade_ids(more))
        assert h.session.stats.quarantined == 0 and h.session.stats.connects == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await h.server.stop()
