"""The stepping loop the store-following jobs share (basis, metrics, depth).

A job steps once at start, then again after every ``flushed`` notice of the writer, at
most every ``interval_s``. Each step runs as its own task and is shielded, so cancelling
the job (shutdown) waits for a commit in flight instead of leaving the job's in-memory
state behind the database; the job's own ``step()`` is then called once more by the
runtime after the writer's last flush.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from divergence.bus import Bus


async def run_on_flush(
    bus: Bus, *, interval_s: float, step: Callable[[], Coroutine[Any, Any, object]]
) -> None:
    """Call ``step`` once, then after every ``flushed`` notice, until cancelled."""
    flushed = bus.subscribe("flushed", maxsize=1, policy="drop_oldest")
    task: asyncio.Task[object] | None = None
    try:
        while True:
            started = time.monotonic()
            task = asyncio.create_task(step())
            await asyncio.shield(task)
            remaining = interval_s - (time.monotonic() - started)
            if remaining > 0:
                await asyncio.sleep(remaining)
            await flushed.get()
    finally:
        bus.unsubscribe(flushed)
        if task is not None and not task.done():
            await task
