"""Real parts for service and browser tests: a seeded DuckDB file, a runtime made of real
pieces (Store, AsyncStore, catalog, InProcessBus), and a real uvicorn server in a thread.

The seeded market (times are offsets in seconds from ``T0``):

- sessions of AAPL: closed [0, 600), pre [600, 1200), regular [1200, 1800), post [1800, ...);
- every 60 s from 0 to 2400 s, one basis row per AAPL venue. The reference mid is
  ``250 + 0.1 * i`` at step ``i``; each venue quotes ``k * ref * (1 + bps / 1e4)`` with
  its own constant basis (``VENUE_BPS``) and multiplier k (the catalog's, in force).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import uvicorn
from fastapi import FastAPI

from divergence.auth.config import ServiceSettings
from divergence.bus import InProcessBus
from divergence.catalog import Catalog, load_catalog
from divergence.clock import NS_PER_SECOND, parse_time_param
from divergence.content import default_catalog_path
from divergence.metrics.basis import BASIS_SCHEMA
from divergence.service.app import create_app
from divergence.settings import Settings
from divergence.store.db import AsyncStore, Store

T = TypeVar("T")
T0 = parse_time_param("2025-10-10T12:00:00Z", name="T0")
STEP_S = 60
STEPS = 41  # 0 .. 2400 s
VENUE_BPS = {"simx-a": 10.0, "simx-b": -20.0, "simdex": 35.0}
MULTIPLIER = {"simx-a": 1.0, "simx-b": 1.0033, "simdex": 1.0033}
INSTRUMENT = {v: f"AAPLx@{v}" for v in VENUE_BPS}
SESSIONS = [(0, "closed"), (600, "pre"), (1200, "regular"), (1800, "post")]


def at(seconds: float) -> int:
    """Epoch ns of ``T0 + seconds``."""
    return T0 + int(seconds * NS_PER_SECOND)


def session_at_offset(seconds: float) -> str:
    return [name for start, name in SESSIONS if start <= seconds][-1]


def ref_mid(step: int) -> float:
    return 250.0 + 0.1 * step


def basis_row(venue: str, seconds: float, ref: float, **overrides: Any) -> dict[str, Any]:
    """One row of the ``basis`` table as the basis job writes it."""
    k = MULTIPLIER[venue]
    mid = k * ref * (1 + VENUE_BPS[venue] / 1e4)
    session = session_at_offset(seconds)
    row: dict[str, Any] = {
        "ts_event": at(seconds),
        "ts_recv": at(seconds) + 1_000_000,
        "instrument_id": INSTRUMENT[venue],
        "venue": venue,
        "underlying": "AAPL",
        "source_kind": "book",
        "quote_currency": "USD",
        "fx_rate": 1.0,
        "fx_age_ms": 0.0,
        "fx_state": "live",
        "multiplier": k,
        "bid_usd": mid - 0.01,
        "ask_usd": mid + 0.01,
        "mid_usd": mid,
        "ref_instrument_id": "AAPL@sim-sip",
        "ref_ts": at(seconds),
        "ref_bid": ref - 0.01,
        "ref_ask": ref + 0.01,
        "ref_mid": ref,
        "ref_age_ms": 0.0,
        "session": session,
        "ref_state": "closed" if session == "closed" else "live",
        "basis_bps": VENUE_BPS[venue],
        "exec_basis_bps": None,
        "source_seq": int(seconds),
        "ref_kind": "last_close" if session == "closed" else "nbbo",
        "ref_confidence": "none" if session == "closed" else "high",
        "ref_session": "regular",
        "split_factor": 1.0,
        "fx_sources": None,
        "fx_depeg": None,
        "basis_sc_bps": None,
        "sc_effect_bps": None,
    }
    row.update(overrides)
    return row


def basis_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows -> a frame with the basis job's schema (ts columns as ns datetimes)."""
    frame = pl.DataFrame(
        rows,
        schema_overrides={
            "exec_basis_bps": pl.Float64,
            "fx_sources": pl.Int32,
            "fx_depeg": pl.Boolean,
            "basis_sc_bps": pl.Float64,
            "sc_effect_bps": pl.Float64,
        },
        orient="row",
    )
    return frame.with_columns(
        pl.col(c).cast(pl.Int64).cast(pl.Datetime("ns")) for c in ("ts_event", "ts_recv", "ref_ts")
    ).select(pl.col(name).cast(dtype) for name, dtype in BASIS_SCHEMA.items())


def seeded_rows() -> list[dict[str, Any]]:
    return [
        basis_row(venue, step * STEP_S, ref_mid(step))
        for step in range(STEPS)
        for venue in VENUE_BPS
    ]


def session_frame() -> pl.DataFrame:
    rows = [
        {
            "ts_event": at(s),
            "ts_recv": at(s),
            "ts_ingest": at(s),
            "venue": "sim-sip",
            "underlying": "AAPL",
            "session": name,
            "ingest_seq": i + 1,
        }
        for i, (s, name) in enumerate(SESSIONS)
    ]
    # a repeated announcement (snapshot on reconnect) must not split the band
    rows.append({**rows[0], "ts_event": at(300), "ingest_seq": 10})
    return pl.DataFrame(rows).with_columns(
        pl.col(c).cast(pl.Datetime("ns")) for c in ("ts_event", "ts_recv", "ts_ingest")
    )


def seed(store: Store) -> None:
    store.append("basis", basis_frame(seeded_rows()).with_columns(ts_ingest=pl.col("ts_recv")))
    store.append("session_states", session_frame())


@dataclass
class StandInRuntime:
    """The four things the service uses of ``divergence.runtime.Runtime``, from real parts."""

    settings: Settings
    catalog: Catalog
    store: AsyncStore
    bus: InProcessBus = field(default_factory=InProcessBus)

    def health(self) -> dict[str, Any]:
        return {"writer": {"flushes": 0}, "feeds": {}}

    def feeds_report(self) -> list[dict[str, Any]]:
        return []


def make_runtime(
    tmp_path: Path, *, seeded: bool = True, service: ServiceSettings | None = None
) -> StandInRuntime:
    """``service`` defaults to dev mode (no keys): tests of access control pass their own."""
    settings = Settings(
        db_path=tmp_path / "service.duckdb",
        archive_dir=tmp_path / "archive",
        service=service or ServiceSettings(dev_mode=True),
    )
    store = Store(settings.db_path)
    store.migrate()
    if seeded:
        seed(store)
    catalog = load_catalog(default_catalog_path())
    return StandInRuntime(settings=settings, catalog=catalog, store=AsyncStore(store))


@dataclass
class RunningServer:
    """A uvicorn server on 127.0.0.1 in a thread with its own event loop."""

    app: FastAPI
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop
    port: int
    runtime: StandInRuntime

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run ``coro`` on the server's loop (the bus's queues live there) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def publish(self, topic: str, item: Any) -> None:
        """Publish on the runtime's bus from a thread that is not the server's."""
        self.call(self.runtime.bus.publish(topic, item))

    async def apublish(self, topic: str, item: Any) -> None:
        """Publish on the runtime's bus from another event loop (async tests)."""
        future = asyncio.run_coroutine_threadsafe(self.runtime.bus.publish(topic, item), self.loop)
        await asyncio.wrap_future(future)

    def hub_clients(self, underlying: str) -> int:
        """How many live websocket clients the app's hub holds for ``underlying``."""
        count: int = self.app.state.hub.client_count(underlying)
        return count


@contextmanager
def running_server(runtime: StandInRuntime) -> Iterator[RunningServer]:
    app = create_app(runtime.settings, runtime=runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "uvicorn did not start")
        assert server.started, "uvicorn failed to start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield RunningServer(app=app, server=server, loop=loop, port=port, runtime=runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        loop.close()
        runtime.store.close()


def wait_until(condition: Any, message: str, timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.02)
