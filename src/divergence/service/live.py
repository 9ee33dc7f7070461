"""Live push: one subscription to the bus topic ``basis``, fanned out to websocket clients.

The hub subscribes once with policy ``drop_oldest`` (a live view wants the newest rows
and must never slow the basis job down). For each frame it builds one delta message per
underlying that has clients (new points only, thinned to ``max_points`` per series),
encodes it once, and offers it to every client of that underlying through the client's
own bounded queue, also ``drop_oldest``, so one slow browser cannot hold up the others.
A client's queue is removed the moment its socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

import orjson
import polars as pl
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from divergence.bus import Bus, Subscription
from divergence.service.charts import latest_status, render_delta, with_ts_ns

log = logging.getLogger(__name__)
TOPIC = "basis"
_CLOSE = None


class LiveHub:
    """Turns ``basis`` frames into per-underlying delta messages for connected clients."""

    def __init__(
        self,
        bus: Bus,
        *,
        max_points: int = 500,
        client_queue: int = 64,
        bus_queue: int = 256,
    ) -> None:
        self.bus = bus
        self.max_points = max_points
        self.client_queue = client_queue
        self.bus_queue = bus_queue
        self.messages_sent = 0
        self.status: dict[str, dict[str, Any]] = {}
        self._clients: dict[str, set[Subscription]] = defaultdict(set)
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe now (no frame published after this is missed) and start fanning out."""
        self._sub = self.bus.subscribe(TOPIC, maxsize=self.bus_queue, policy="drop_oldest")
        self._task = asyncio.create_task(self.run_fanout(self._sub), name="live-hub")

    async def stop(self) -> None:
        """Stop fanning out, unsubscribe, and tell every client to close."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
            self._sub = None
        for clients in self._clients.values():
            for client in clients:
                await client.put(_CLOSE)

    async def run_fanout(self, sub: Subscription) -> None:
        async for frame in sub:
            try:
                await self.dispatch(frame)
            except Exception:
                log.exception("live delta failed; frame skipped", extra={"topic": TOPIC})

    # -- clients ----------------------------------------------------------------------------
    def connect(self, underlying: str) -> Subscription:
        """A bounded queue of encoded messages for one client, starting with a hello."""
        client = Subscription(f"live.{underlying}", maxsize=self.client_queue, policy="drop_oldest")
        hello = {"type": "hello", "underlying": underlying, "status": self.status.get(underlying)}
        client.queue.put_nowait(orjson.dumps(hello).decode())
        self._clients[underlying].add(client)
        return client

    def disconnect(self, client: Subscription) -> None:
        for clients in self._clients.values():
            clients.discard(client)
        if client.dropped:
            log.info("slow live client lost messages", extra={"dropped": client.dropped})

    def client_count(self, underlying: str | None = None) -> int:
        if underlying is not None:
            return len(self._clients.get(underlying, ()))
        return sum(len(c) for c in self._clients.values())

    # -- fan-out ----------------------------------------------------------------------------
    async def dispatch(self, frame: pl.DataFrame) -> int:
        """Send one delta per underlying of ``frame`` to its clients; return messages queued."""
        if frame.is_empty():
            return 0
        frame = with_ts_ns(frame)
        queued = 0
        for (underlying,), part in frame.partition_by("underlying", as_dict=True).items():
            name = str(underlying)
            status = latest_status(part)
            if status is not None:
                self.status[name] = status
            clients = tuple(self._clients.get(name, ()))
            if not clients:
                continue
            message = orjson.dumps(render_delta(name, part, max_points=self.max_points)).decode()
            for client in clients:
                await client.put(message)
            queued += len(clients)
        self.messages_sent += queued
        return queued


async def run_client(websocket: WebSocket, hub: LiveHub, underlying: str) -> None:
    """Push ``underlying``'s messages to one accepted websocket until either side closes."""
    client = hub.connect(underlying)
    watcher = asyncio.create_task(_close_on_disconnect(websocket, client))
    try:
        while (message := await client.get()) is not _CLOSE:
            await websocket.send_text(message)
    except WebSocketDisconnect:
        log.debug("live client went away", extra={"underlying": underlying})
    finally:
        hub.disconnect(client)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    if _open(websocket):  # the hub is stopping: say goodbye
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code=1001)


async def _close_on_disconnect(websocket: WebSocket, client: Subscription) -> None:
    """Read (and ignore) what the browser sends; wake the sender when it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            await client.put(_CLOSE)
            return


def _open(websocket: WebSocket) -> bool:
    connected = WebSocketState.CONNECTED
    return websocket.client_state == connected and websocket.application_state == connected
