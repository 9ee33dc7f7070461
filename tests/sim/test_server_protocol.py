"""The simulator's websocket server on 127.0.0.1, driven by a plain websockets client."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from divergence.catalog import Catalog
from divergence.errors import FeedError
from divergence.settings import SimSettings
from divergence.sim import scenario as sc
from divergence.sim.frames import tick_frames
from divergence.sim.market import generate_ticks, venue_symbols
from divergence.sim.server import SimServer


@pytest.fixture
async def server(catalog: Catalog) -> AsyncIterator[SimServer]:
    sim = SimServer(SimSettings(speed=50, tick_ms=50, stop_after_s=200, seed=5), catalog)
    await sim.start()
    yield sim
    await sim.stop()


async def recv_json(ws: ClientConnection) -> dict[str, object]:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


async def test_server_handshake_and_subscribe(server: SimServer) -> None:
    async with connect(server.url_for("sim-sip")) as ws:
        assert await recv_json(ws) == {"op": "hello", "venue": "sim-sip"}
        await ws.send('{"op":"subscribe","symbols":["AAPL","ZZZZ"]}')
        assert await recv_json(ws) == {"op": "subscribed", "symbols": ["AAPL"], "unknown": ["ZZZZ"]}
        assert await recv_json(ws) == {
            "ch": "session",
            "sym": "AAPL",
            "ts": sc.START_NS,
            "session": "regular",
        }
        await server.wait_subscribed(["sim-sip"], timeout=1)
        assert server.subscribe_counts["sim-sip"] == 1
        await ws.send("not json")
        error = await recv_json(ws)
        assert error["op"] == "error" and "malformed json" in str(error["message"])


async def test_server_wait_subscribed_names_missing_venue(server: SimServer) -> None:
    with pytest.raises(FeedError, match="simdex"):
        await server.wait_subscribed(["simdex"], timeout=0.05)


async def test_server_unknown_path_is_404(server: SimServer) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(f"ws://127.0.0.1:{server.port}/nope"):
            pass
    assert caught.value.response.status_code == 404
    assert b"simx-a" in caught.value.response.body


async def test_server_streams_the_generator_frames(server: SimServer, catalog: Catalog) -> None:
    settings = server.settings
    end_ns = sc.START_NS + round(200 * 1e9)
    ticks = itertools.takewhile(
        lambda t: t.ts_ns <= end_ns,
        generate_ticks(catalog, sc.OCT10_SCENARIO, seed=5, tick_ms=50, speed=50),
    )
    expected = [f.text for t in list(ticks) for f in tick_frames(t) if f.venue == "simx-a"]
    last_ts = json.loads(expected[-1])["ts"]
    async with connect(server.url_for("simx-a")) as ws:
        await recv_json(ws)  # hello
        symbols = sorted(venue_symbols(catalog)["simx-a"])
        await ws.send(json.dumps({"op": "subscribe", "symbols": symbols}))
        assert (await recv_json(ws))["symbols"] == symbols
        started = time.monotonic()
        run = asyncio.create_task(server.run())
        got = []
        async with asyncio.timeout(10):
            while len(got) < len(expected):
                got.append(await ws.recv())
            await server.finished.wait()
        elapsed = time.monotonic() - started
        await run
    assert got == expected
    assert server.clock_ns == last_ts <= end_ns
    ticks_sent = server.ticks_published
    assert ticks_sent == 1 + (200 * 1000) // (settings.tick_ms * 4 * 50)  # 4 s per tick at 200x
    assert elapsed >= (ticks_sent - 1) * settings.tick_ms / 1000 * 0.9  # paced, not bursted
