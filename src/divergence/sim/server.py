"""The simulator's websocket server: one path per venue, ticks paced against the wall clock.

The market (:mod:`divergence.sim.market`) decides *what* is published and *when in sim
time*; this module only decides when in wall time. Tick ``i`` is due ``i x tick_ms``
after :meth:`SimServer.run` starts; if the loop is behind, it publishes without
sleeping. Each client has a bounded queue and its own writer, so one slow client cannot
stall the others: it is disconnected (close code 1013) when its queue overflows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from http import HTTPStatus
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from divergence.catalog import Catalog
from divergence.clock import NS_PER_SECOND
from divergence.errors import FeedError
from divergence.sessions import session_at
from divergence.settings import SimSettings
from divergence.sim.frames import (
    WireFrame,
    error_frame,
    hello_frame,
    session_frame,
    subscribed_frame,
    tick_frames,
)
from divergence.sim.market import generate_ticks, sim_venues, venue_symbols
from divergence.sim.scenario import Scenario, scenario_named

log = logging.getLogger(__name__)
SUBSCRIBE_HINT = 'expected {"op":"subscribe","symbols":[...]}'


class _Client:
    """One websocket connection on one venue path."""

    def __init__(self, venue: str, conn: ServerConnection, queue_max: int) -> None:
        self.venue = venue
        self.conn = conn
        self.symbols: set[str] = set()
        self.subscribed = False
        self.closing = False
        self.queue: asyncio.Queue[str | bytes] = asyncio.Queue(queue_max)


class SimServer:
    """Publishes a seeded scenario as local websocket venues (``ws://HOST:PORT/<venue>``)."""

    def __init__(
        self,
        sim_settings: SimSettings,
        catalog: Catalog,
        *,
        scenario: Scenario | None = None,
        client_queue_max: int = 50_000,
    ) -> None:
        self.settings = sim_settings
        self.catalog = catalog
        self.scenario = scenario or scenario_named(sim_settings.scenario)
        self.venue_ids = tuple(v.id for v in sim_venues(catalog))
        self.port = sim_settings.port
        self.clock_ns = self.scenario.start_ns
        self.ticks_published = 0
        self.finished = asyncio.Event()
        self.subscribe_counts: dict[str, int] = defaultdict(int)
        self._symbols = venue_symbols(catalog)
        self._references = {v.id for v in sim_venues(catalog) if v.kind == "reference"}
        self._clients: dict[str, set[_Client]] = defaultdict(set)
        self._subscribed: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._queue_max = client_queue_max
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the socket; sets :attr:`port` (useful with port 0)."""
        try:
            self._server = await serve(
                self._serve,
                self.settings.host,
                self.settings.port,
                process_request=self._route,
                compression=None,
            )
        except OSError as exc:
            raise FeedError(
                f"simulator cannot listen on {self.settings.host}:{self.settings.port}: {exc}"
            ) from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("simulator listening", extra={"host": self.settings.host, "port": self.port})

    def url_for(self, venue_id: str) -> str:
        return f"ws://{self.settings.host}:{self.port}/{venue_id}"

    async def wait_subscribed(self, venue_ids: Iterable[str], *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until some client has subscribed on each of ``venue_ids``."""
        wanted = list(venue_ids)
        try:
            async with asyncio.timeout(timeout):
                for venue in wanted:
                    await self._subscribed[venue].wait()
        except TimeoutError:
            missing = [v for v in wanted if not self._subscribed[v].is_set()]
            raise FeedError(f"no subscription on {', '.join(missing)} within {timeout} s") from None

    async def run(self) -> None:
        """Publish ticks until cancelled, or until ``stop_after_s`` sim seconds have passed."""
        settings = self.settings
        end_ns = None
        if settings.stop_after_s is not None:
            end_ns = self.scenario.start_ns + round(settings.stop_after_s * NS_PER_SECOND)
        ticks = generate_ticks(
            self.catalog,
            self.scenario,
            seed=settings.seed,
            tick_ms=settings.tick_ms,
            speed=settings.speed,
        )
        loop = asyncio.get_running_loop()
        began, tick_s = loop.time(), settings.tick_ms / 1000
        for tick in ticks:
            if end_ns is not None and tick.ts_ns > end_ns:
                break
            delay = began + tick.index * tick_s - loop.time()
            await asyncio.sleep(max(delay, 0.0))
            self.clock_ns = tick.ts_ns
            self._broadcast(tick_frames(tick))
            self.ticks_published += 1
        log.info("simulator finished", extra={"clock_ns": self.clock_ns})
        self.finished.set()

    def rate(self) -> float:
        """Sim seconds per wall second at the current tick (schedule x ``sim.speed``)."""
        return self.scenario.rate_at(self.clock_ns) * self.settings.speed

    def tick_step_s(self) -> float:
        """Sim seconds between two ticks at the current tick."""
        return self.settings.tick_ms / 1000 * self.rate()

    async def inject(self, venue_id: str, text: str | bytes) -> int:
        """Test hook: send a raw frame to every subscriber of ``venue_id``; returns how many."""
        clients = [c for c in self._clients.get(venue_id, ()) if c.subscribed]
        for client in clients:
            self._offer(client, text)
        return len(clients)

    async def drop_clients(self, venue_id: str) -> int:
        """Test hook: close every connection on ``venue_id`` from the server side."""
        clients = list(self._clients.get(venue_id, ()))
        for client in clients:
            await client.conn.close(code=1012, reason="dropped by the simulator")
        return len(clients)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task

    def _route(self, conn: ServerConnection, request: Request) -> Response | None:
        venue = urlsplit(request.path).path.strip("/")
        if venue in self._symbols:
            return None
        known = ", ".join(self.venue_ids)
        return conn.respond(HTTPStatus.NOT_FOUND, f"unknown venue {venue!r} (known: {known})\n")

    async def _serve(self, conn: ServerConnection) -> None:
        assert conn.request is not None  # the handshake is done when the handler runs
        venue = urlsplit(conn.request.path).path.strip("/")
        client = _Client(venue, conn, self._queue_max)
        self._clients[venue].add(client)
        writer = asyncio.create_task(self._write(client))
        self._offer(client, hello_frame(venue))
        try:
            async for message in conn:
                self._on_message(client, message)
        except ConnectionClosed:
            pass
        finally:
            self._clients[venue].discard(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self, client: _Client) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await client.conn.send(await client.queue.get())

    def _on_message(self, client: _Client, message: str | bytes) -> None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._offer(client, error_frame(f"malformed json; {SUBSCRIBE_HINT}"))
            return
        symbols = request.get("symbols") if isinstance(request, dict) else None
        if (
            not isinstance(request, dict)
            or request.get("op") != "subscribe"
            or not isinstance(symbols, list)
            or not all(isinstance(s, str) for s in symbols)
        ):
            self._offer(client, error_frame(SUBSCRIBE_HINT))
            return
        known = self._symbols[client.venue]
        client.symbols.update(s for s in symbols if s in known)
        client.subscribed = True
        self._offer(
            client, subscribed_frame(client.symbols, [s for s in symbols if s not in known])
        )
        if client.venue in self._references:
            session = session_at(self.clock_ns)
            for symbol in sorted(s for s in symbols if s in known):
                self._offer(client, session_frame(symbol, self.clock_ns, session))
        self.subscribe_counts[client.venue] += 1
        self._subscribed[client.venue].set()
        log.info("client subscribed", extra={"venue": client.venue, "symbols": len(symbols)})

    def _broadcast(self, frames: list[WireFrame]) -> None:
        for frame in frames:
            for client in self._clients.get(frame.venue, ()):
                if client.subscribed and (frame.key is None or frame.key in client.symbols):
                    self._offer(client, frame.text)

    def _offer(self, client: _Client, text: str | bytes) -> None:
        if client.closing:
            return
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            client.closing = True
            log.warning("slow client disconnected", extra={"venue": client.venue})
            task = asyncio.create_task(client.conn.close(code=1013, reason="slow client"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
