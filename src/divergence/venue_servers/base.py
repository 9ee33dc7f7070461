"""A local websocket server that speaks one venue's protocol from a recorded session.

Tests, benchmarks and the acceptance runs point real adapters at these servers on
127.0.0.1; only the live venue itself is replaced. A venue module subclasses
:class:`ProtocolServer` and implements four hooks:

- :meth:`ProtocolServer.handle_request`: answer one client frame (subscribe,
  unsubscribe, ping) exactly as the venue does, and call :meth:`subscribe` /
  :meth:`unsubscribe` for the streams it covers;
- :meth:`ProtocolServer.observe`: advance the server's own market state (its books) with
  one recorded frame, whether or not anybody receives it;
- :meth:`ProtocolServer.snapshot_frames`: what the venue sends when a client subscribes
  to a stream (a book snapshot built from the current state);
- :meth:`ProtocolServer.render`: the wire text of a recorded frame, re-stamped to wall
  time so that the data looks live.

The recording is *market* time: one pump walks it for all connections, so a client that
reconnects continues where the market is, like on a real venue. Frames at ``at_ms == 0``
are the initial state and are only observed; clients get snapshots when they subscribe.
With ``loop`` the recording repeats; each new lap is a venue restart (``reset_state``,
the initial frames again, every connection dropped), because a book cannot continue
across the wrap.

Fault controls, for the fault tests and the acceptance run: :meth:`drop_connections`
(abort every socket), :meth:`silence` (keep sockets open but send nothing, not even
replies), :meth:`skip_next` (the next frame of a stream is observed but not sent: a
sequence gap or a book that diverges), :meth:`corrupt_next` (the next frame goes out
through :meth:`corrupt`), and :meth:`inject` (raw text to every client).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from divergence.errors import FeedError
from divergence.venue_servers.recording import RecordedFrame

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Connection:
    """One client socket and the streams it subscribed to."""

    ws: ServerConnection
    streams: set[str] = field(default_factory=set)
    muted: bool = False
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(100_000))
    state: dict[str, Any] = field(default_factory=dict)
    room: asyncio.Event = field(default_factory=asyncio.Event)


class ProtocolServer:
    """Serves a recording over one venue's protocol on ``ws://host:port/``."""

    venue = "abstract"

    def __init__(
        self,
        recording: list[RecordedFrame],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        loop: bool = False,
    ) -> None:
        """``speed`` multiplies the recording's pace; 0 sends as fast as clients read."""
        self.recording = recording
        self.host = host
        self.port = port
        self.speed = speed
        self.loop = loop
        self.connections: set[Connection] = set()
        self.frames_sent = 0
        self.cursor = 0
        self.finished = asyncio.Event()
        self.subscribe_counts: dict[str, int] = defaultdict(int)
        self._changed = asyncio.Event()
        self._skip: dict[str, int] = defaultdict(int)
        self._corrupt: dict[str, int] = defaultdict(int)
        self._server: Server | None = None
        self._pump: asyncio.Task[None] | None = None
        self._writers: set[asyncio.Task[None]] = set()
        self._start_index = 0
        self.rest_responses: dict[str, bytes] = {}
        """Recorded REST bodies served over plain HTTP GET on the same port, by path+query."""

    # ------------------------------------------------------------------ hooks
    async def handle_request(self, conn: Connection, text: str) -> None:
        """Answer one client frame; call :meth:`subscribe` for the streams it covers."""
        raise NotImplementedError

    def observe(self, frame: RecordedFrame) -> None:
        """Advance the server's market state with ``frame`` (default: nothing to keep)."""

    def snapshot_frames(self, stream: str) -> list[str]:
        """Frames a client gets when it subscribes to ``stream`` (default: none)."""
        return []

    def render(self, frame: RecordedFrame) -> str:
        """The wire text of ``frame`` as sent now (default: the recorded JSON as is)."""
        value = frame.frame
        return value if isinstance(value, str) else msgspec.json.encode(value).decode()

    def corrupt(self, frame: RecordedFrame, text: str) -> str:
        """The text sent instead of ``text`` after :meth:`corrupt_next` (e.g. a bad checksum)."""
        return text

    def on_connect(self, conn: Connection) -> list[str]:
        """Frames the venue sends first on every new connection (default: none)."""
        return []

    def wants(self, conn: Connection, frame: RecordedFrame) -> bool:
        """Whether ``conn`` receives ``frame`` (default: it subscribed to its stream)."""
        return frame.stream in conn.streams

    def frames_for(self, conn: Connection, frame: RecordedFrame, text: str) -> list[str]:
        """What ``conn`` is sent for ``frame`` rendered as ``text`` (default: ``[text]``;
        JSON-RPC wraps it once per matching subscription id)."""
        return [text]

    def initial_state_done(self) -> None:
        """Called after the ``at_ms == 0`` frames were observed (at start, and per loop)."""

    def reset_state(self) -> None:
        """Forget the market state before a loop re-observes the initial frames."""

    # ------------------------------------------------------------ life cycle
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    async def start(self) -> None:
        """Observe the initial state and bind the socket (sets :attr:`port`)."""
        index = 0
        while index < len(self.recording) and self.recording[index].at_ms == 0:
            self.observe(self.recording[index])
            index += 1
        self._start_index = index
        self.cursor = index
        self.initial_state_done()
        try:
            self._server = await serve(
                self._serve,
                self.host,
                self.port,
                compression=None,
                max_size=2**24,
                process_request=self._rest,
            )
        except OSError as exc:
            raise FeedError(f"{self.venue} server cannot listen on {self.port}: {exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("protocol server listening", extra={"venue": self.venue, "port": self.port})

    def start_streaming(self) -> None:
        """Start walking the recording (after the clients you care about subscribed)."""
        if self._pump is None:
            self._pump = asyncio.create_task(self._run_pump(), name=f"{self.venue}-pump")

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        for task in list(self._writers):
            task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def wait_subscribed(self, streams: Iterable[str], *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until some connection has subscribed to every stream in ``streams``."""
        wanted = set(streams)
        try:
            async with asyncio.timeout(timeout):
                while not wanted <= self._all_streams():
                    await self._wait_change()
        except TimeoutError:
            missing = sorted(wanted - self._all_streams())
            raise FeedError(f"{self.venue}: not subscribed within {timeout} s: {missing}") from None

    # -------------------------------------------------------------- faults
    async def drop_connections(self) -> int:
        """Abort every client socket without a close handshake; returns how many."""
        dropped = list(self.connections)
        for conn in dropped:
            transport = conn.ws.transport
            if transport is not None:
                transport.abort()
        self._notify()
        return len(dropped)

    def silence(self) -> int:
        """Stop sending anything (data, replies, pongs to app pings) on current sockets."""
        for conn in self.connections:
            conn.muted = True
        return len(self.connections)

    def skip_next(self, stream: str, count: int = 1) -> None:
        """Observe but do not send the next ``count`` frames of ``stream``."""
        self._skip[stream] += count

    def corrupt_next(self, stream: str, count: int = 1) -> None:
        """Send the next ``count`` frames of ``stream`` through :meth:`corrupt`."""
        self._corrupt[stream] += count

    def inject(self, text: str) -> int:
        """Send raw ``text`` to every connected client; returns how many."""
        live = [c for c in self.connections if not c.muted]
        for conn in live:
            self.send(conn, text)
        return len(live)

    # ------------------------------------------------------- for subclasses
    def send(self, conn: Connection, text: str) -> None:
        """Queue ``text`` for ``conn`` (dropped while the connection is muted)."""
        if conn.muted:
            return
        try:
            conn.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("slow protocol client dropped", extra={"venue": self.venue})
            transport = conn.ws.transport
            if transport is not None:
                transport.abort()

    def subscribe(self, conn: Connection, stream: str) -> None:
        """Record the subscription and send the stream's snapshot frames."""
        conn.streams.add(stream)
        self.subscribe_counts[stream] += 1
        for text in self.snapshot_frames(stream):
            self.send(conn, text)
        self._notify()

    def unsubscribe(self, conn: Connection, stream: str) -> None:
        conn.streams.discard(stream)
        self._notify()

    # ------------------------------------------------------------ internals
    def _rest(self, conn: ServerConnection, request: Request) -> Response | None:
        """Plain HTTP GETs (no websocket upgrade) get the recorded REST responses."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        body = self.rest_responses.get(request.path)
        status, reason = (200, "OK") if body is not None else (404, "Not Found")
        payload = body if body is not None else b'{"error":"not recorded"}'
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return Response(status, reason, headers, payload)

    def _all_streams(self) -> set[str]:
        return set().union(*(c.streams for c in self.connections)) if self.connections else set()

    async def _serve(self, ws: ServerConnection) -> None:
        conn = Connection(ws)
        self.connections.add(conn)
        for text in self.on_connect(conn):
            self.send(conn, text)
        writer = asyncio.create_task(self._write(conn))
        self._writers.add(writer)
        self._notify()
        try:
            async for message in ws:
                if conn.muted:
                    continue
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                await self.handle_request(conn, text)
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(conn)
            writer.cancel()
            self._writers.discard(writer)
            self._notify()

    async def _write(self, conn: Connection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                text = await conn.queue.get()
                if conn.muted:
                    continue
                await conn.ws.send(text)
                self.frames_sent += 1
                if conn.queue.qsize() < 1_000:
                    conn.room.set()

    async def _run_pump(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            for index in range(self._start_index, len(self.recording)):
                frame = self.recording[index]
                if self.speed > 0:
                    delay = began + frame.at_ms / 1000 / self.speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                self.observe(frame)
                self.cursor = index + 1
                self._deliver(frame)
                if self.speed == 0 and index % 256 == 0:
                    await self._drain()
            if not self.loop:
                break
            # a new lap is a venue restart: fresh state, every client reconnects and
            # gets fresh snapshots (a book cannot continue across the wrap)
            self.reset_state()
            for index in range(self._start_index):
                self.observe(self.recording[index])
            self.initial_state_done()
            await self.drop_connections()
        await self._drain()
        self.finished.set()
        self._notify()

    def _deliver(self, frame: RecordedFrame) -> None:
        if self._skip[frame.stream] > 0:
            self._skip[frame.stream] -= 1
            return
        corrupt = self._corrupt[frame.stream] > 0
        text: str | None = None
        sent = False
        for conn in list(self.connections):
            if conn.muted or not self.wants(conn, frame):
                continue
            if text is None:
                text = self.render(frame)
                if corrupt:
                    text = self.corrupt(frame, text)
            for out in self.frames_for(conn, frame, text):
                self.send(conn, out)
                sent = True
        if sent and corrupt:
            self._corrupt[frame.stream] -= 1

    async def _drain(self) -> None:
        """With speed 0, let the writers catch up so queues stay bounded."""
        while True:
            backlog = [c for c in self.connections if not c.muted and c.queue.qsize() > 10_000]
            if not backlog:
                break
            await backlog[0].room.wait()
            backlog[0].room.clear()
        await asyncio.sleep(0)

    async def _wait_change(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
