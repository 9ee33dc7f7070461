"""Batched writer vs naive per-row INSERT into the same DuckDB schema, in one run.

    .venv/bin/python bench/bench_writer.py [--rows 50000] [--naive-rows 5000]

Prints a JSON object with rows/s for both paths. The naive path gets fewer rows because
it is orders of magnitude slower; rates are per row, so they compare directly.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from divergence.events import Quote
from divergence.store.db import Store
from divergence.store.writer import build_batch

INSERT = (
    "INSERT INTO quotes (ts_event, ts_recv, ts_ingest, venue, instrument_id, symbol, bid_px,"
    " bid_sz, ask_px, ask_sz, ingest_seq) VALUES (make_timestamp_ns($1), make_timestamp_ns($2),"
    " make_timestamp_ns($3), $4, $5, $6, $7, $8, $9, $10, $11)"
)


def _quotes(n: int) -> list[Quote]:
    return [
        Quote(
            ts_event=1_760_126_160_000_000_000 + i * 1_000_000,
            ts_recv=i,
            venue="simx-a",
            instrument_id="AAPLx@simx-a",
            symbol="AAPLx/USD",
            bid_px=Decimal("245.10") + Decimal(i % 100) / 100,
            bid_sz=Decimal("1.5"),
            ask_px=Decimal("245.30") + Decimal(i % 100) / 100,
            ask_sz=Decimal("2.25"),
        )
        for i in range(n)
    ]


def bench_batched(store: Store, quotes: list[Quote], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(quotes), batch):
        tables, _, _ = build_batch(quotes[i : i + batch], [], first_seq=i + 1, ts_ingest=1)
        for table, frame in tables.items():
            store.append(table, frame)
    return len(quotes) / (time.perf_counter() - start)


def bench_naive(store: Store, quotes: list[Quote]) -> float:
    cur = store.cursor()
    start = time.perf_counter()
    for seq, q in enumerate(quotes, 1):
        cur.execute(
            INSERT,
            [
                q.ts_event,
                q.ts_recv,
                1,
                q.venue,
                q.instrument_id,
                q.symbol,
                q.bid_px,
                q.bid_sz,
                q.ask_px,
                q.ask_sz,
                seq,
            ],
        )
    return len(quotes) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        batched_db = Store(Path(tmp) / "batched.duckdb")
        batched_db.migrate()
        naive_db = Store(Path(tmp) / "naive.duckdb")
        naive_db.migrate()
        batched = bench_batched(batched_db, _quotes(args.rows), args.batch)
        naive = bench_naive(naive_db, _quotes(args.naive_rows))
        batched_db.close()
        naive_db.close()
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                "python": platform.python_version(),
                "batched_rows_per_s": round(batched),
                "naive_rows_per_s": round(naive),
                "speedup": round(batched / naive, 1),
                "rows": args.rows,
                "naive_rows": args.naive_rows,
                "batch": args.batch,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
