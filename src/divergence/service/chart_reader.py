"""The dashboards' own DuckDB reader threads.

The store's single reader thread also serves the pipeline's jobs (the alert engine's
input loads, the metric jobs): while they catch up, a chart query queued behind them
waits seconds. Chart queries are small and read-only, so they run on their own threads,
each with its own cursor (``Store.cursor()`` is per thread): DuckDB reads a consistent
snapshot concurrently with the writer and the other readers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
from starlette.requests import HTTPConnection

from divergence.service.deps import ServiceRuntime, get_runtime


class ChartReader:
    """The runtime, and named queries run on the dashboards' threads."""

    def __init__(self, runtime: ServiceRuntime, *, threads: int = 2) -> None:
        self.runtime = runtime
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="duckdb-charts")

    async def named(self, name: str, params: Mapping[str, Any]) -> pl.DataFrame:
        store = self.runtime.store.store
        text = store.sql_text(name)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: store.query(text, params))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def get_chart_reader(conn: HTTPConnection) -> ChartReader:
    """The app's reader for its current runtime (made on first use, remade if the
    runtime changed)."""
    runtime = get_runtime(conn)
    reader: ChartReader | None = getattr(conn.app.state, "chart_reader", None)
    if reader is None or reader.runtime is not runtime:
        if reader is not None:
            reader.close()
        reader = ChartReader(runtime)
        conn.app.state.chart_reader = reader
    return reader
