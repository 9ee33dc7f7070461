"""Live panels: changed table rows and heatmap cells pushed to one websocket client.

Each live panel names its triggers (``refresh_on``): bus topics (``basis``, ``alerts``,
``events``) or ``second``. The client's task subscribes to those topics with small
``drop_oldest`` queues (a trigger only says "something changed", so dropping is
harmless and never slows a producer), and at most once per ``min_interval_s`` re-reads
the triggered panels, diffs them against what this client already has, and sends only
the difference. The first round after connecting sends every row (the page applies it
idempotently), so a change between the page's load and the socket is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from divergence.clock import now_ns
from divergence.dashboards import Panel
from divergence.service.chart_reader import ChartReader
from divergence.service.charts_kinds import render_bars
from divergence.service.live_diff import (
    Snapshot,
    diff,
    heatmap_snapshot,
    render_cells_delta,
    render_rows_delta,
    table_snapshot,
)
from divergence.service.panels import View, panel_rows, run_query

log = logging.getLogger(__name__)
TICK = "second"


class PanelsClient:
    """The state of one client: its view, live panels and what it has been sent."""

    def __init__(self, reader: ChartReader, view: View, *, min_interval_s: float = 0.5):
        self.reader = reader
        self.view = view
        self.panels = [p for p in view.dashboard.spec.panel if p.refresh_on]
        self.min_interval_s = min_interval_s
        self.sent: dict[str, Snapshot] = {}
        self.messages = 0

    def topics(self) -> set[str]:
        return {t for p in self.panels for t in p.refresh_on if t != TICK}

    def ticks(self) -> bool:
        return any(TICK in p.refresh_on for p in self.panels)

    async def follow_data(self) -> None:
        """Move the view's end to just after the newest data (the extent query), so
        "current" panels (the heatmap's instant) and windows follow the market's clock,
        which is the simulator's in a demo, not the wall clock."""
        dash = self.view.dashboard
        last = None
        if dash.spec.extent_query is not None:
            extent = await run_query(self.reader, self.view, dash.spec.extent_query)
            last = extent.row(0)[1] if extent.height else None
        end = now_ns() if last is None else int(last) + 1
        self.view = dataclasses.replace(self.view, end_ns=max(end, self.view.start_ns + 1))

    async def refresh(self, fired: set[str]) -> list[dict[str, Any]]:
        """Deltas of every panel a fired trigger names (all of them on the first round)."""
        await self.follow_data()
        messages = []
        for panel in self.panels:
            first = panel.id not in self.sent
            if first or fired.intersection(panel.refresh_on):
                message = await self.delta(panel)
                if message is not None:
                    messages.append(message)
        return messages

    async def delta(self, panel: Panel) -> dict[str, Any] | None:
        rows = await panel_rows(self.reader, self.view, panel)
        previous = self.sent.get(panel.id, {})
        if panel.chart == "heatmap":
            current = heatmap_snapshot(rows)
            changed, _ = diff(previous, current)
            self.sent[panel.id] = current
            return render_cells_delta(panel, changed) if changed else None
        if panel.chart == "bars":
            current = {(): (rows.rows(),)}
            self.sent[panel.id] = current
            if previous == current:
                return None
            return {
                "type": "figure",
                "panel": panel.id,
                "data": render_bars(panel, rows, {})["data"],
            }
        columns, current = table_snapshot(panel, rows)
        changed, gone = diff(previous, current)
        self.sent[panel.id] = current
        if not changed and not gone:
            return None
        return render_rows_delta(panel, columns, changed, gone)


async def run_panels_client(websocket: WebSocket, reader: ChartReader, view: View) -> None:
    """Serve one accepted websocket until it closes."""
    client = PanelsClient(reader, view)
    bus = reader.runtime.bus
    wake = asyncio.Event()
    fired: set[str] = set()
    subs = {
        topic: bus.subscribe(topic, maxsize=4, policy="drop_oldest") for topic in client.topics()
    }

    async def watch(topic: str) -> None:
        async for _ in subs[topic]:
            fired.add(topic)
            wake.set()

    tasks = [asyncio.create_task(watch(t)) for t in subs]
    gone = asyncio.create_task(_until_disconnect(websocket))
    hello = {
        "type": "hello",
        "dashboard": view.dashboard.name,
        "panels": [p.id for p in client.panels],
    }
    try:
        await websocket.send_text(orjson.dumps(hello).decode())
        last_tick = 0.0
        while not gone.done():
            started = time.monotonic()
            now_fired = set(fired)
            fired.clear()
            wake.clear()
            if client.ticks() and started - last_tick >= 1.0:
                now_fired.add(TICK)
                last_tick = started
            try:
                messages = await client.refresh(now_fired)
            except Exception:
                log.exception(
                    "live panels refresh failed", extra={"dashboard": view.dashboard.name}
                )
                messages = []
            for message in messages:
                await websocket.send_text(orjson.dumps(message).decode())
                client.messages += 1
            await asyncio.sleep(max(0.0, client.min_interval_s - (time.monotonic() - started)))
            timeout = 1.0 if client.ticks() else None
            waiter = asyncio.create_task(wake.wait())
            await asyncio.wait({waiter, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
    except (WebSocketDisconnect, RuntimeError):
        log.debug("live panels client went away", extra={"dashboard": view.dashboard.name})
    finally:
        for task in (*tasks, gone):
            task.cancel()
        await asyncio.gather(*tasks, gone, return_exceptions=True)
        for sub in subs.values():
            bus.unsubscribe(sub)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code=1000)


async def _until_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
