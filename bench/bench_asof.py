"""As-of lookup of the reference for the basis: divergence against pandas, polars and DuckDB.

Issue #5. Generated, deterministic data (numpy, fixed seed): ``--refs`` reference quotes
(default 100M) over one 6.5 h session for 10 underlyings, int64 ns timestamps on a
microsecond grid (so equal timestamps occur), a 10-minute quote gap per underlying (so
the age limit bites), stored in ``(underlying, ts_event)`` order as the store keeps them;
and ``--tokens`` token quotes (default 2M) in time order, from one minute before the first
reference to one minute after the last. Every implementation computes, per token row,
the reference in force (latest reference of the same underlying with ``τ ≤ t``, at most
2 s old, else null), its mid and the mid basis ``(token_mid / (k · ref_mid) − 1) · 1e4``.

Each implementation runs in its own subprocess: it generates the same data, converts it
to what that implementation needs (untimed, reported as ``prep``), runs best of
``--runs`` and reports its peak RSS over the runs (``getrusage`` after resetting the
high-water mark through /proc/self/clear_refs; the inputs are resident, so they count).
The parent checks that all of them return the same row count, reference timestamps,
mids and basis (exact float equality), and prints the table.

    .venv/bin/python bench/bench_asof.py
    .venv/bin/python bench/bench_asof.py --refs 100000 --tokens 2000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.metrics.asof import asof_reference

UNDERLYINGS = ("AAPL", "AMZN", "COIN", "GOOGL", "META", "MSFT", "NFLX", "NVDA", "SPY", "TSLA")
T0 = 1_757_943_000 * NS_PER_SECOND  # 2025-09-15 13:30 UTC, the regular open
SESSION_US = 23_400_000_000  # 6.5 h in microseconds
GAP_NS = 600 * NS_PER_SECOND  # the quote gap in the middle of each underlying's day
MAX_AGE_NS = 2 * NS_PER_SECOND  # the regular-session staleness limit, metrics.md §1.3
MULTIPLIERS = (1.0, 1.0033)
ENGINES = (
    "divergence",
    "divergence-categorical",
    "divergence-time-ordered",
    "polars",
    "polars-categorical",
    "pandas",
    "pandas-categorical",
    "duckdb",
)
GiB = 1024**3
FLOATS = ("ref_mid", "basis_bps")
Result = dict[str, np.ndarray[Any, Any]]


@dataclass
class Data:
    """Reference columns in (underlying, ts) order and token columns in time order."""

    ref_code: np.ndarray[Any, Any]
    ref_ts: np.ndarray[Any, Any]
    ref_bid: np.ndarray[Any, Any]
    ref_ask: np.ndarray[Any, Any]
    tok_code: np.ndarray[Any, Any]
    tok_ts: np.ndarray[Any, Any]
    tok_bid: np.ndarray[Any, Any]
    tok_ask: np.ndarray[Any, Any]
    tok_k: np.ndarray[Any, Any]


def generate(n_refs: int, n_tokens: int, seed: int) -> Data:
    """The benchmark's data; blocks of one underlying at a time keep temporaries small."""
    rng = np.random.default_rng(seed)
    sizes = [n_refs // len(UNDERLYINGS)] * len(UNDERLYINGS)
    sizes[-1] += n_refs - sum(sizes)
    ref_ts = np.empty(n_refs, dtype=np.int64)
    ref_bid = np.empty(n_refs, dtype=np.float64)
    ref_ask = np.empty(n_refs, dtype=np.float64)
    start = 0
    for code, size in enumerate(sizes):
        block = slice(start, start + size)
        ref_ts[block] = reference_stamps(size, rng)
        steps = rng.integers(-1, 2, size, dtype=np.int8)
        np.cumsum(steps, out=ref_bid[block], dtype=np.float64)
        ref_bid[block] = 100.0 + 25.0 * code + 0.01 * ref_bid[block]
        ref_ask[block] = ref_bid[block] + 0.01 * rng.integers(1, 6, size)
        start += size
    ref_code = np.repeat(np.arange(len(UNDERLYINGS), dtype=np.uint32), sizes)
    tok_code, tok_ts = token_stamps(n_tokens, ref_ts, sizes, rng)
    tok_bid = 100.0 + 25.0 * tok_code + rng.normal(0.0, 0.5, n_tokens)
    tok_ask = tok_bid + 0.02
    tok_k = np.asarray(MULTIPLIERS)[tok_code % 2]
    return Data(ref_code, ref_ts, ref_bid, ref_ask, tok_code, tok_ts, tok_bid, tok_ask, tok_k)


def reference_stamps(size: int, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """Sorted ns stamps on a µs grid over the session: 1% repeat the previous one (ties)
    and the second half comes after the quote gap."""
    mean_gap_us = max(1, SESSION_US // max(size, 1))
    gaps = rng.integers(1, 2 * mean_gap_us, size, dtype=np.int64)
    gaps[rng.integers(0, 100, size, dtype=np.int8) == 0] = 0
    stamps = np.cumsum(gaps)
    stamps *= 1_000
    stamps += T0
    stamps[size // 2 :] += GAP_NS
    return stamps


def token_stamps(
    n_tokens: int, ref_ts: np.ndarray[Any, Any], sizes: list[int], rng: np.random.Generator
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Underlying codes and stamps in time order, from a minute before the first reference
    to a minute after the last; 1% of them at exactly the time of one of their references."""
    codes = rng.integers(0, len(UNDERLYINGS), n_tokens).astype(np.uint32)
    first, last = T0 - 60 * NS_PER_SECOND, T0 + SESSION_US * 1_000 + GAP_NS + 60 * NS_PER_SECOND
    stamps = rng.integers(first // 1_000, last // 1_000, n_tokens) * 1_000
    same = np.flatnonzero(rng.integers(0, 100, n_tokens) == 0)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picked = starts[codes[same]] + rng.integers(0, np.asarray(sizes)[codes[same]])
    stamps[same] = ref_ts[picked]
    order = np.argsort(stamps, kind="stable")
    return codes[order], stamps[order]


def polars_frames(data: Data, *, by: pl.DataType) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Tokens and references (REFERENCE_NBBO_SCHEMA names) as polars frames, no sort flags."""
    names = pl.Series(UNDERLYINGS, dtype=pl.String)
    ts = pl.Datetime("ns")
    refs = pl.DataFrame(
        {
            "ts_event": pl.Series(data.ref_ts).cast(ts),
            "underlying": names.gather(pl.Series(data.ref_code)).cast(by),
            "nbb": data.ref_bid,
            "nbo": data.ref_ask,
        }
    )
    tokens = pl.DataFrame(
        {
            "ts_event": pl.Series(data.tok_ts).cast(ts),
            "underlying": names.gather(pl.Series(data.tok_code)).cast(by),
            "bid": data.tok_bid,
            "ask": data.tok_ask,
            "multiplier": data.tok_k,
        }
    )
    return tokens, refs


def basis_expr() -> pl.Expr:
    """The mid basis (metrics.md §1.1) of a token row joined to its reference mid."""
    mid = (pl.col("bid") + pl.col("ask")) / 2
    return ((mid / (pl.col("multiplier") * pl.col("ref_mid")) - 1) * 1e4).alias("basis_bps")


def run_divergence(tokens: pl.DataFrame, refs: pl.DataFrame) -> pl.DataFrame:
    out = asof_reference(tokens, refs, by="underlying", on="ts_event", max_age_ns=MAX_AGE_NS)
    return out.with_columns(basis_expr())


def run_polars(tokens: pl.DataFrame, refs: pl.DataFrame) -> pl.DataFrame:
    right = refs.select(pl.col("ts_event").alias("ref_ts"), "underlying", "nbb", "nbo")
    out = tokens.join_asof(
        right,
        left_on="ts_event",
        right_on="ref_ts",
        by="underlying",
        strategy="backward",
        tolerance=f"{MAX_AGE_NS}ns",
        coalesce=False,
        check_sortedness=False,  # cannot be checked with by groups; sorted per group here
    )
    return out.with_columns(((pl.col("nbb") + pl.col("nbo")) / 2).alias("ref_mid")).with_columns(
        basis_expr()
    )


def pandas_frames(data: Data, *, categorical: bool) -> tuple[Any, Any]:
    """merge_asof needs ``on`` sorted globally: references re-sorted by time (stable)."""
    import pandas as pd

    order = np.argsort(data.ref_ts, kind="stable")

    def names(codes: np.ndarray[Any, Any]) -> Any:
        cat = pd.Categorical.from_codes(codes.astype(np.int8), categories=list(UNDERLYINGS))
        return cat if categorical else pd.array(cat.astype("str"), dtype="str")

    refs = pd.DataFrame(
        {
            "ts_event": data.ref_ts[order].view("datetime64[ns]"),
            "underlying": names(data.ref_code[order]),
            "nbb": data.ref_bid[order],
            "nbo": data.ref_ask[order],
        },
        copy=False,
    )
    del order
    tokens = pd.DataFrame(
        {
            "ts_event": data.tok_ts.view("datetime64[ns]"),
            "underlying": names(data.tok_code),
            "bid": data.tok_bid,
            "ask": data.tok_ask,
            "multiplier": data.tok_k,
        },
        copy=False,
    )
    return tokens, refs


def run_pandas(tokens: Any, refs: Any) -> Any:
    import pandas as pd

    right = refs.rename(columns={"ts_event": "ref_ts"})  # copy-on-write: no copy
    out = pd.merge_asof(
        tokens,
        right,
        left_on="ts_event",
        right_on="ref_ts",
        by="underlying",
        direction="backward",
        tolerance=pd.Timedelta(MAX_AGE_NS, unit="ns"),
    )
    out["ref_mid"] = (out["nbb"] + out["nbo"]) / 2
    mid = (out["bid"] + out["ask"]) / 2
    out["basis_bps"] = (mid / (out["multiplier"] * out["ref_mid"]) - 1) * 1e4
    return out


DUCKDB_SQL = """
-- Per token row (grain), the reference in force and the mid basis; $max_age_ns: the
-- age limit (DuckDB's ASOF has no tolerance, so the age is gated, metrics.md §1.3).
SELECT t.row_id,
       CASE WHEN epoch_ns(t.ts_event) - epoch_ns(r.ts_event) <= $max_age_ns
            THEN epoch_ns(r.ts_event) END AS ref_ts,
       CASE WHEN epoch_ns(t.ts_event) - epoch_ns(r.ts_event) <= $max_age_ns
            THEN (r.nbb + r.nbo) / 2 END AS ref_mid,
       ((t.bid + t.ask) / 2 / (t.multiplier * ref_mid) - 1) * 1e4 AS basis_bps
FROM tokens t ASOF LEFT JOIN refs r
  ON t.underlying = r.underlying AND t.ts_event >= r.ts_event
ORDER BY t.row_id
"""


def run_duckdb(con: Any) -> dict[str, Any]:
    return dict(con.execute(DUCKDB_SQL, {"max_age_ns": MAX_AGE_NS}).fetchnumpy())


def as_result_polars(out: pl.DataFrame) -> Result:
    return {
        "ref_ts": out["ref_ts"].to_physical().fill_null(-1).to_numpy(),
        "ref_mid": out["ref_mid"].to_numpy(),
        "basis_bps": out["basis_bps"].to_numpy(),
    }


def as_result_pandas(out: Any) -> Result:
    ref_ts = out["ref_ts"].to_numpy().view(np.int64).copy()
    ref_ts[out["ref_ts"].isna().to_numpy()] = -1
    floats = {c: out[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in FLOATS}
    return {"ref_ts": ref_ts, **floats}


def as_result_duckdb(out: dict[str, Any]) -> Result:
    floats = {c: np.ma.filled(np.ma.asarray(out[c]), np.nan) for c in FLOATS}
    return {"ref_ts": np.ma.filled(np.ma.asarray(out["ref_ts"]), -1).astype(np.int64), **floats}


def prepare(engine: str, data: Data) -> tuple[Callable[[], Any], Callable[[Any], Result], str]:
    """What the engine runs, how its output becomes arrays, and what it was given."""
    if engine.startswith(("divergence", "polars")):
        by = pl.Categorical() if engine.endswith("categorical") else pl.String()
        tokens, refs = polars_frames(data, by=by)
        given = f"polars frames, {by} keys, references in (underlying, ts) order"
        if engine == "divergence-time-ordered":
            refs = refs.sort("ts_event", maintain_order=True)
            given = "the same, references in time order (the kernel groups them itself)"
        run = run_divergence if engine.startswith("divergence") else run_polars
        return (lambda: run(tokens, refs)), as_result_polars, given
    if engine.startswith("pandas"):
        categorical = engine == "pandas-categorical"
        ptokens, prefs = pandas_frames(data, categorical=categorical)
        kind = "category" if categorical else "str"
        given = f"pandas frames, {kind} keys, references re-sorted by time"
        return (lambda: run_pandas(ptokens, prefs)), as_result_pandas, given
    return prepare_duckdb(data)


def prepare_duckdb(data: Data) -> tuple[Callable[[], Any], Callable[[Any], Result], str]:
    import duckdb

    tokens, refs = polars_frames(data, by=pl.String())
    con = duckdb.connect(":memory:")
    con.register("tokens", tokens.with_row_index("row_id").to_arrow())
    con.register("refs", refs.to_arrow())
    given = "the polars frames as Arrow, registered in an in-memory connection"
    return (lambda: run_duckdb(con)), as_result_duckdb, given


def reset_peak_rss() -> bool:
    """Reset the RSS high-water mark (Linux >= 4.0); False where not permitted."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(args: argparse.Namespace) -> None:
    """One implementation: generate, prepare (untimed), best of N, save the result."""
    data = generate(args.refs, args.tokens, args.seed)
    started = time.perf_counter()
    run, to_arrays, given = prepare(args.worker, data)
    prep_s = time.perf_counter() - started
    del data
    reset = reset_peak_rss()
    inputs_rss = peak_rss_bytes()  # right after a reset: the current RSS, inputs included
    times, out = [], None
    for _ in range(args.runs):
        del out
        started = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - started)
    peak = peak_rss_bytes()
    np.savez(args.out, **to_arrays(out))
    report = {"seconds": min(times), "prep_s": prep_s, "peak_rss": peak}
    report |= {"inputs_rss": inputs_rss, "peak_reset": reset}
    print(json.dumps({**report, "given": given}))


@dataclass
class Row:
    engine: str
    seconds: float
    prep_s: float
    peak_rss: int
    inputs_rss: int
    peak_reset: bool
    given: str
    mismatch: str
    tie_rows: int


def run_engine(engine: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", engine, "--out", str(out)]
    command += ["--refs", str(args.refs), "--tokens", str(args.tokens)]
    command += ["--runs", str(args.runs), "--seed", str(args.seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def compare(result: Result, expected: Result, rows: int) -> tuple[str, int]:
    """What differs (empty when identical, nulls included), apart from the rows where
    only the choice among references sharing one timestamp differs (same ``ref_ts``,
    another mid: the same underlying and instant with another price is a tie); and
    how many such rows."""
    lengths = [f"{n}: {len(result[n])} rows" for n in expected if len(result[n]) != rows]
    if lengths:
        return f"{', '.join(lengths)}, expected {rows}", 0
    ties = differing(result["ref_mid"], expected["ref_mid"])
    ties &= ~differing(result["ref_ts"], expected["ref_ts"]) & (expected["ref_ts"] != -1)
    problems = []
    for name, values in expected.items():
        if differ := int((differing(result[name], values) & ~ties).sum()):
            problems.append(f"{name}: {differ} rows differ")
    return "; ".join(problems), int(ties.sum())


def differing(got: np.ndarray[Any, Any], expected: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Which rows differ; NaN (null) equals NaN."""
    same = got == expected
    if got.dtype.kind == "f" and expected.dtype.kind == "f":
        same |= np.isnan(got) & np.isnan(expected)
    return ~same


def benchmark(args: argparse.Namespace) -> tuple[list[Row], int]:
    """Every engine's row, and how many token rows found a reference."""
    rows: list[Row] = []
    expected: Result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines:
            out = Path(tmp) / f"{engine}.npz"
            report = run_engine(engine, args, out)
            with np.load(out) as saved:
                result = {name: saved[name] for name in saved.files}
            expected = expected or result
            mismatch, ties = compare(result, expected, args.tokens)
            rows.append(Row(engine=engine, mismatch=mismatch, tie_rows=ties, **report))
    return rows, int((expected["ref_ts"] >= 0).sum())


def print_table(rows: list[Row], matched: int, args: argparse.Namespace) -> None:
    ours = next((r.seconds for r in rows if r.engine == "divergence"), None)
    print(f"references: {args.refs:,}  tokens: {args.tokens:,}  best of {args.runs} runs")
    print(f"token rows with a reference within {MAX_AGE_NS / NS_PER_SECOND:g} s: {matched:,}")
    print(
        f"{'engine':<26}{'time s':>9}{'vs ours':>9}{'peak GiB':>10}{'inputs GiB':>11}"
        f"{'prep s':>8}  agrees"
    )
    for r in rows:
        ratio = f"{r.seconds / ours:.1f}x" if ours else "-"
        agrees = f"NO: {r.mismatch}" if r.mismatch else "yes"
        agrees += f" (tie rows: {r.tie_rows})" if r.tie_rows else ""
        peak = f"{r.peak_rss / GiB:.2f}" + ("" if r.peak_reset else "*")
        print(
            f"{r.engine:<26}{r.seconds:>9.3f}{ratio:>9}{peak:>10}{r.inputs_rss / GiB:>11.2f}"
            f"{r.prep_s:>8.1f}  {agrees}"
        )
    for r in rows:
        print(f"  {r.engine}: {r.given}")
    others = [r for r in rows if not r.engine.startswith("divergence")]
    if others:
        best = min(others, key=lambda r: r.seconds)
        speedups = [f"{r.engine} {best.seconds / r.seconds:.1f}x" for r in rows if r not in others]
        print(f"fastest other: {best.engine} ({best.seconds:.3f} s); vs it: {', '.join(speedups)}")
    if any(r.tie_rows for r in rows):
        print("  tie rows: same ref_ts, another of the references sharing that instant")
    if not all(r.peak_reset for r in rows):
        print("  * peak RSS includes data generation (could not reset the high-water mark)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, default=100_000_000)
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return []
    rows, matched = benchmark(args)
    print_table(rows, matched, args)
    return rows


if __name__ == "__main__":
    main()
