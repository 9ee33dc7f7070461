"""API latency of the underlying-detail view over one simulated trading day of one underlying.

A DuckDB file gets one full extended-hours day (04:00-20:00 ET) of ``basis`` rows for
AAPL: three token venues quoting ``--rate`` times a second each (7/s: about 1.2 million
rows), with a reference random walk, the day's session announcements and the catalog
tables. A real uvicorn server (dev mode) serves it on 127.0.0.1, and the whole route
``GET /api/charts/underlying`` (every panel and layer of the view as it is today) is timed
for the whole day at width 1200, a 1-hour zoom and a 5-minute zoom. The baseline in the
same run fetches the same day without downsampling: the raw rows through SQL
(``api_basis.sql`` without a row limit) and through the paginated ``/api/basis``. Each
query of the view is also timed alone on the day window, to show which one dominates.

    .venv/bin/python bench/bench_api_underlying.py --requests 200 --out /tmp/api.json
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import platform
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import duckdb
import httpx
import polars as pl
import uvicorn

from divergence.bus import InProcessBus
from divergence.catalog import Catalog, load_catalog
from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.content import default_catalog_path
from divergence.dashboards import load_dashboards
from divergence.jobs.basis_rollup import refresh_range
from divergence.metrics.basis import BASIS_SCHEMA
from divergence.runtime import sync_catalog_tables
from divergence.service.app import create_app
from divergence.service.charts import bucket_ns_for
from divergence.service.panels import ROLLUP_TWINS
from divergence.settings import Settings
from divergence.store.db import AsyncStore, Store

UNDERLYING = "AAPL"
DAY_START = ns_from_datetime(datetime(2025, 10, 10, 8, 0, tzinfo=UTC))  # 04:00 ET (EDT)
DAY_END = ns_from_datetime(datetime(2025, 10, 11, 0, 0, tzinfo=UTC))  # 20:00 ET
HOUR = 3_600 * NS_PER_SECOND
SESSIONS = [(0, "pre"), (5.5 * HOUR, "regular"), (12 * HOUR, "post"), (16 * HOUR, "closed")]
VENUES = {"simx-a": (1.0, 10.0), "simx-b": (1.0033, -20.0), "simdex": (1.0033, 35.0)}
WIDTH = 1200
WINDOWS = {
    "day_w1200": (DAY_START, DAY_END),
    "hour_w1200": (DAY_START + 6 * HOUR, DAY_START + 7 * HOUR),  # 10:00-11:00 ET
    "5min_w1200": (DAY_START + 6 * HOUR, DAY_START + 6 * HOUR + 300 * NS_PER_SECOND),
}


# -- the day's data -----------------------------------------------------------------------
def session_at(offset_ns: int) -> str:
    return [name for start, name in SESSIONS if start <= offset_ns][-1]


def basis_day(rate: float, rng: random.Random) -> pl.DataFrame:
    """One day of valid ``basis`` rows (BASIS_SCHEMA plus ts_ingest), in time order."""
    seconds = (DAY_END - DAY_START) // NS_PER_SECOND
    walk = [250.0]
    for _ in range(seconds):
        walk.append(walk[-1] * (1 + rng.gauss(0, 0.00015)))
    columns: dict[str, list[Any]] = {k: [] for k in ("ts", "venue", "k", "bps", "ref")}
    for venue, (k, bps) in VENUES.items():
        n = int(rate * seconds)
        for ts in sorted(rng.randrange(DAY_END - DAY_START) for _ in range(n)):
            columns["ts"].append(DAY_START + ts)
            columns["venue"].append(venue)
            columns["k"].append(k)
            columns["bps"].append(bps + rng.gauss(0, 4.0))
            columns["ref"].append(walk[ts // NS_PER_SECOND])
    raw = pl.DataFrame(columns).sort("ts")
    session = pl.Series([session_at(t - DAY_START) for t in raw["ts"]])
    stamp = pl.col("ts").cast(pl.Datetime("ns"))
    mid = pl.col("k") * pl.col("ref") * (1 + pl.col("bps") / 1e4)
    frame = raw.with_columns(session=session).select(
        ts_event=stamp,
        ts_recv=stamp + pl.duration(milliseconds=1),
        instrument_id=pl.lit("AAPLx@") + pl.col("venue"),
        venue="venue",
        underlying=pl.lit(UNDERLYING),
        source_kind=pl.lit("book"),
        quote_currency=pl.lit("USD"),
        fx_rate=pl.lit(1.0),
        fx_age_ms=pl.lit(0.0),
        fx_state=pl.lit("live"),
        multiplier="k",
        bid_usd=mid - 0.01,
        ask_usd=mid + 0.01,
        mid_usd=mid,
        ref_instrument_id=pl.lit("AAPL@sim-sip"),
        ref_ts=stamp,
        ref_bid=pl.col("ref") - 0.01,
        ref_ask=pl.col("ref") + 0.01,
        ref_mid="ref",
        ref_age_ms=pl.lit(0.0),
        session="session",
        ref_state=pl.lit("live"),
        basis_bps="bps",
        exec_basis_bps=pl.col("bps") - 12.0,
        source_seq=pl.int_range(pl.len(), dtype=pl.Int64),
        ref_kind=pl.when(pl.col("session") == "regular")
        .then(pl.lit("nbbo"))
        .otherwise(pl.lit("extended")),
        ref_confidence=pl.lit("high"),
        ref_session="session",
        split_factor=pl.lit(1.0),
        fx_sources=pl.lit(None, pl.Int32),
        fx_depeg=pl.lit(None, pl.Boolean),
        basis_sc_bps=pl.lit(None, pl.Float64),
        sc_effect_bps=pl.lit(None, pl.Float64),
    )
    frame = frame.select(pl.col(n).cast(t) for n, t in BASIS_SCHEMA.items())
    return frame.with_columns(ts_ingest=pl.col("ts_recv"))


def session_rows() -> pl.DataFrame:
    rows = [
        {
            "ts_event": DAY_START + int(offset),
            "ts_recv": DAY_START + int(offset),
            "ts_ingest": DAY_START + int(offset),
            "venue": "sim-sip",
            "underlying": UNDERLYING,
            "session": name,
            "ingest_seq": i + 1,
        }
        for i, (offset, name) in enumerate(SESSIONS)
    ]
    ts = ("ts_event", "ts_recv", "ts_ingest")
    return pl.DataFrame(rows).with_columns(pl.col(c).cast(pl.Datetime("ns")) for c in ts)


def build_db(path: Path, catalog: Catalog, *, rate: float, seed: int) -> int:
    """Write the day into a fresh database file; the number of basis rows."""
    store = Store(path, threads=2)
    try:
        store.migrate()
        sync_catalog_tables(store, catalog)
        frame = basis_day(rate, random.Random(seed))
        for chunk in frame.iter_slices(200_000):  # the writer appends in batches, too
            store.append("basis", chunk)
        store.append("session_states", session_rows())
        with store.transaction():  # what the basis job keeps with every step
            refresh_range(store, DAY_START, DAY_END)
        store.checkpoint()
        return frame.height
    finally:
        store.close()


# -- the server -----------------------------------------------------------------------------
@dataclass
class BenchRuntime:
    """What the service uses of the runtime, from real parts (no feeds, no jobs)."""

    settings: Settings
    catalog: Catalog
    store: AsyncStore
    bus: InProcessBus = field(default_factory=InProcessBus)

    def health(self) -> dict[str, Any]:
        return {"writer": {"flushes": 0}, "feeds": {}}

    def feeds_report(self) -> list[dict[str, Any]]:
        return []


@contextmanager
def running_server(runtime: BenchRuntime) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 in a thread; yields its base URL."""
    app = create_app(runtime.settings, runtime=runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        loop.close()


# -- measurements ---------------------------------------------------------------------------
def summary(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1e3 for s in samples_s)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, math.ceil(0.99 * len(ms)) - 1)], 2),
        "max_ms": round(ms[-1], 2),
    }


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return samples, result


def chart_route(client: httpx.Client, start: int, end: int) -> dict[str, Any]:
    params: dict[str, str | int] = {
        "underlying": UNDERLYING,
        "start": str(start),
        "end": str(end),
        "width": WIDTH,
    }
    response = client.get("/api/charts/underlying", params=params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def points_of(body: dict[str, Any]) -> int:
    return sum(
        len(t.get("x", [])) for p in body["panels"] for t in p.get("figure", {}).get("data", [])
    )


def api_pages(client: httpx.Client) -> int:
    """Every raw basis row of the day through ``/api/basis`` pages; the row count."""
    rows, start = 0, str(DAY_START)
    while start is not None:
        params: dict[str, str | int] = {
            "underlying": UNDERLYING,
            "start": start,
            "end": str(DAY_END),
            "limit": 50_000,
        }
        response = client.get("/api/basis", params=params)
        response.raise_for_status()
        page = response.json()
        rows += len(page["rows"])
        start = page["next_start"]
    return rows


def query_profile(store: Store, repeat: int, start: int, end: int) -> dict[str, dict[str, float]]:
    """Each query of the underlying view alone, on one window (p50/p99)."""
    dash = load_dashboards()["underlying"]
    given = {
        "underlying": UNDERLYING,
        "venue": None,
        "start": start,
        "end": end,
        "bucket_ns": bucket_ns_for(start, end, WIDTH),
    }
    out = {}
    for name, used in sorted(dash.params.items()):
        params = {k: given[k] for k in used}
        # the route reads a query's basis_1s twin when buckets are a second or more
        twin = ROLLUP_TWINS.get(name) if given["bucket_ns"] >= NS_PER_SECOND else None
        for query in (name, twin) if twin else (name,):
            text = store.sql_text(query)
            samples, _ = timed(functools.partial(store.query, text, params), repeat)
            out[query] = summary(samples)
    return out


# The experiment: what a one-second rollup of basis would buy the whole-day price panel.
# (Bench-only SQL on a TEMP table: the service does not have this table.)
ROLLUP_SQL = """
CREATE OR REPLACE TEMP TABLE bench_basis_1s AS
SELECT underlying, venue, epoch_ns(ts_event) // 1000000000 AS sec,
       arg_min(epoch_ns(ts_event), mid_usd / multiplier) AS px_lo_ts,
       min(mid_usd / multiplier) AS px_lo,
       arg_max(epoch_ns(ts_event), mid_usd / multiplier) AS px_hi_ts,
       max(mid_usd / multiplier) AS px_hi,
       arg_min(epoch_ns(ts_event), ref_mid) AS ref_lo_ts, min(ref_mid) AS ref_lo,
       arg_max(epoch_ns(ts_event), ref_mid) AS ref_hi_ts, max(ref_mid) AS ref_hi
FROM basis
GROUP BY ALL
ORDER BY underlying, sec
"""
PRICE_FROM_ROLLUP_SQL = """
WITH r AS (
    SELECT * FROM bench_basis_1s
    WHERE underlying = $underlying AND sec >= $start // 1000000000 AND sec < $end // 1000000000
),
points AS (
    SELECT venue AS series, px_lo_ts AS lo_ts, px_lo AS lo, px_hi_ts AS hi_ts, px_hi AS hi
    FROM r WHERE px_lo IS NOT NULL
    UNION ALL
    SELECT 'reference', ref_lo_ts, ref_lo, ref_hi_ts, ref_hi FROM r WHERE ref_lo IS NOT NULL
),
buckets AS (
    SELECT series, (lo_ts - $start) // $bucket_ns AS bucket,
           arg_min(lo_ts, lo) AS ts_lo, min(lo) AS v_lo,
           arg_max(hi_ts, hi) AS ts_hi, max(hi) AS v_hi
    FROM points
    GROUP BY ALL
)
SELECT series, ts_lo AS ts_ns, v_lo AS value FROM buckets
UNION
SELECT series, ts_hi AS ts_ns, v_hi AS value FROM buckets
ORDER BY series, ts_ns, value
"""


def rollup_experiment(store: Store, repeat: int) -> dict[str, Any]:
    """chart_price on the whole day from raw rows vs from a one-second rollup (same rows)."""
    bucket = bucket_ns_for(DAY_START, DAY_END, WIDTH)  # 48 s: whole seconds, so exact
    params = {"underlying": UNDERLYING, "start": DAY_START, "end": DAY_END, "bucket_ns": bucket}
    started = time.perf_counter()
    store.execute(ROLLUP_SQL)
    built_s = time.perf_counter() - started
    raw_text = store.sql_text("chart_price")
    used = load_dashboards()["underlying"].params["chart_price"]
    raw_params = {k: v for k, v in (params | {"venue": None}).items() if k in used}
    raw_samples: list[float] = []
    rollup_samples: list[float] = []
    for _ in range(repeat):  # interleaved, so that both see the same machine load
        raw_samples += timed(lambda: store.query(raw_text, raw_params), 1)[0]
        rollup_samples += timed(lambda: store.query(PRICE_FROM_ROLLUP_SQL, params), 1)[0]
    raw = store.query(raw_text, raw_params)
    rolled = store.query(PRICE_FROM_ROLLUP_SQL, params)
    # venue mids have no ties, so their extremes (time and value) must match exactly; the
    # reference repeats one value on every venue row, so only its values are compared
    venues = pl.col("series").is_in(list(VENUES))
    ref_values = [
        f.filter(~venues & (pl.col("series") == "reference"))["value"] for f in (raw, rolled)
    ]
    return {
        "same_venue_points": raw.filter(venues).equals(rolled.filter(venues)),
        "same_reference_values": ref_values[0]
        .unique()
        .sort()
        .equals(ref_values[1].unique().sort()),
        "rollup_rows": store.query("SELECT count(*) AS n FROM bench_basis_1s").item(),
        "rollup_build_s": round(built_s, 2),
        "chart_price_raw": summary(raw_samples),
        "chart_price_rollup_1s": summary(rollup_samples),
    }


def measure(
    db: Path, *, requests: int, raw_repeat: int, threads: int, pages: bool
) -> dict[str, Any]:
    catalog = load_catalog(default_catalog_path())
    settings = Settings(
        db_path=db,
        archive_dir=db.parent / "archive",
        service={"dev_mode": True},
        duckdb_threads=threads,
    )
    store = Store(db, threads=settings.duckdb_threads)
    runtime = BenchRuntime(settings=settings, catalog=catalog, store=AsyncStore(store))
    result: dict[str, Any] = {"routes": {}, "baseline": {}}
    with running_server(runtime) as url, httpx.Client(base_url=url, timeout=120) as client:
        for name, (start, end) in WINDOWS.items():
            fetch = functools.partial(chart_route, client, start, end)
            timed(fetch, 5)  # warm-up
            samples, body = timed(fetch, requests)
            result["routes"][name] = summary(samples) | {"points": points_of(body)}
        text = store.sql_text("api_basis")
        raw = {
            "underlying": UNDERLYING,
            "start": DAY_START,
            "end": DAY_END,
            "venue": None,
            "limit": 100_000_000,
        }
        samples, frame = timed(lambda: store.query(text, raw), raw_repeat)
        result["baseline"]["raw_sql_day"] = summary(samples) | {"rows": frame.height}
        if pages:
            samples, rows = timed(lambda: api_pages(client), 1)
            result["baseline"]["api_basis_pages_day"] = summary(samples) | {"rows": rows}
    repeat = max(5, requests // 10)
    result["queries"] = {
        name: query_profile(store, repeat, start, end) for name, (start, end) in WINDOWS.items()
    }
    result["experiment_rollup"] = rollup_experiment(store, repeat)
    runtime.store.close()
    return result


def print_table(report: dict[str, Any]) -> None:
    print(f"{'measure':<48}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}  size")
    experiment = report["experiment_rollup"]
    sections = [
        ("route", report["routes"]),
        ("baseline", report["baseline"]),
        *((f"query {w}", q) for w, q in report["queries"].items()),
        ("experiment", {k: v for k, v in experiment.items() if isinstance(v, dict)}),
    ]
    for label, rows in sections:
        for name, s in rows.items():
            size = s.get("points", s.get("rows", ""))
            print(
                f"{label + ' ' + name:<48}{s['n']:>5}{s['p50_ms']:>10}{s['p99_ms']:>10}"
                f"{s['max_ms']:>10}  {size}"
            )


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": pl.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=7.0, help="quotes per second per venue")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per window")
    parser.add_argument("--raw-repeat", type=int, default=5, help="runs of the raw SQL baseline")
    parser.add_argument("--db", type=Path, help="reuse (or create) this database file")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-pages", action="store_true", help="skip the /api/basis baseline")
    parser.add_argument("--threads", type=int, default=1, help="settings.duckdb_threads")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench_api.duckdb"
        built = None
        if not db.exists():
            started = time.perf_counter()
            built = build_db(
                db, load_catalog(default_catalog_path()), rate=args.rate, seed=args.seed
            )
            print(f"built {db}: {built} basis rows in {time.perf_counter() - started:.1f} s")
        report = measure(
            db,
            requests=args.requests,
            raw_repeat=args.raw_repeat,
            threads=args.threads,
            pages=not args.no_pages,
        )
        rows = duckdb.connect(str(db), read_only=True).sql("SELECT count(*) FROM basis").fetchall()
    report = {
        "basis_rows": rows[0][0],
        "rate_per_venue_s": args.rate,
        "duckdb_threads": args.threads,
        "load_average_1m_5m_15m": os.getloadavg(),
        "machine": machine(),
    } | report
    print_table(report)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
