"""A socket that is open but silent is restarted; the session code stays venue-agnostic."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from divergence.bus import InProcessBus
from divergence.catalog import Catalog
from divergence.feeds import session as session_module
from divergence.feeds.session import FeedSession
from divergence.settings import VenueSettings
from divergence.venues.sim import SimAdapter


async def test_session_watchdog_restarts_silent_socket(
    catalog: Catalog, bus: InProcessBus, background: Any
) -> None:
    received: list[str | bytes] = []
    three = asyncio.Event()

    async def silent(conn: ServerConnection) -> None:
        received.append(await conn.recv())  # the subscribe, then nothing at all
        if len(received) >= 3:
            three.set()
        await conn.wait_closed()

    async with serve(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        venue = catalog.venues["simx-b"]
        adapter = SimAdapter(venue, catalog)
        session = FeedSession(
            venue,
            adapter,
            f"ws://127.0.0.1:{port}/simx-b",
            bus,
            None,
            VenueSettings(backoff_initial_s=0.01, backoff_max_s=0.05, silence_timeout_s=0.2),
        )
        background(session.run())
        await session.wait_for(lambda s: s.connects >= 3, timeout=5)
        async with asyncio.timeout(5):
            await three.wait()
        last_error = session.stats.last_error
    assert received[:3] == adapter.subscribe_messages() * 3
    assert session.stats.reconnects >= 2
    assert last_error == "SilentSocket: no frame for 0.2 s"
    assert session.stats.silent_restarts >= 2
    assert session.stats.frames == 0


def test_session_never_names_a_venue(catalog: Catalog) -> None:
    source = inspect.getsource(session_module)
    named = [v.id for v in catalog.venue if v.id in source] + [
        a for a in {v.adapter for v in catalog.venue} if f'"{a}"' in source
    ]
    assert named == []
