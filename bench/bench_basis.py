"""How fast compute_basis runs with the full reference policy, against a minimal baseline.

Synthetic but realistic inputs over one regular-session hour: token quotes on three
listings (USD, USDT, USDC), reference quotes at 10 Hz, three stablecoin sources at 1 Hz
each, the real XNYS calendar, and a halt. The policy (calendar sessions, halts, three
reference kinds, closes, splits, the FX median across sources) is timed against, in the
same run, the minimal basis the policy replaced: one as-of join on the reference and one
on a single FX source, then the formula.

    .venv/bin/python bench/bench_basis.py --tokens 200000
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

import polars as pl

from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.metrics.basis import BasisContext, BasisParams, compute_basis
from divergence.sessions import calendar_frame
from divergence.settings import BasisSettings

TS = pl.Datetime("ns")
T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET
HOUR = 3_600 * NS_PER_SECOND
LISTINGS = {"AAPLx@usd": "USD", "AAPLx@usdt": "USDT", "AAPLx@usdc": "USDC"}


def _frame(columns: dict[str, list[object]], ts: tuple[str, ...]) -> pl.LazyFrame:
    frame = pl.DataFrame(columns)
    return frame.with_columns(pl.col(c).cast(pl.Int64).cast(TS) for c in ts).lazy()


def inputs(n_tokens: int, rng: random.Random) -> tuple[pl.LazyFrame, BasisContext]:
    stamps = sorted(T0 + rng.randrange(HOUR) for _ in range(n_tokens))
    ids = [rng.choice(list(LISTINGS)) for _ in stamps]
    tokens = _frame(
        {
            "ts_event": stamps,
            "ts_recv": stamps,
            "instrument_id": ids,
            "venue": [i.split("@")[1] for i in ids],
            "bid_px": [245.0 + rng.gauss(0, 0.5) for _ in stamps],
            "ask_px": [245.1 + rng.gauss(0, 0.5) for _ in stamps],
            "source_kind": ["quote"] * n_tokens,
            "source_seq": list(range(n_tokens)),
        },
        ("ts_event", "ts_recv"),
    )
    ref_ts = list(range(T0 - 60 * NS_PER_SECOND, T0 + HOUR, NS_PER_SECOND // 10))
    references = _frame(
        {
            "ts_event": ref_ts,
            "underlying": ["AAPL"] * len(ref_ts),
            "ref_instrument_id": ["AAPL@sip"] * len(ref_ts),
            "bid": [244.99] * len(ref_ts),
            "ask": [245.01] * len(ref_ts),
        },
        ("ts_event",),
    )
    fx_ts = list(range(T0 - 60 * NS_PER_SECOND, T0 + HOUR, NS_PER_SECOND))
    fx_rows = [
        (t + offset, venue, coin, 1.0 + rng.gauss(0, 1e-4))
        for t in fx_ts
        for offset, venue in ((0, "a"), (250_000_000, "b"), (500_000_000, "c"))
        for coin in ("USDT", "USDC")
    ]
    fx = _frame(
        {
            "ts_event": [r[0] for r in fx_rows],
            "venue": [r[1] for r in fx_rows],
            "currency": [r[2] for r in fx_rows],
            "rate_usd": [r[3] for r in fx_rows],
        },
        ("ts_event",),
    ).sort("ts_event")
    context = BasisContext(
        references=references,
        reference_sessions=pl.LazyFrame(
            {
                "ref_instrument_id": ["AAPL@sip"] * 3,
                "underlying": ["AAPL"] * 3,
                "ref_session": ["pre", "regular", "post"],
            }
        ),
        closes=_frame(
            {
                "close_ts": [T0 - 18 * HOUR],
                "underlying": ["AAPL"],
                "ref_instrument_id": ["AAPL@sip"],
                "ts_event": [T0 - 18 * HOUR - 1],
                "bid": [244.0],
                "ask": [244.2],
            },
            ("close_ts", "ts_event"),
        ),
        fx=fx,
        calendar=calendar_frame(T0 - 100 * HOUR, T0 + 2 * HOUR).lazy(),
        announcements=_frame(
            {
                "ts_event": [T0 + HOUR // 2, T0 + HOUR // 2 + 300 * NS_PER_SECOND],
                "underlying": ["AAPL"] * 2,
                "session": ["halted", "regular"],
            },
            ("ts_event",),
        ),
        multipliers=pl.LazyFrame(
            {
                "instrument_id": list(LISTINGS),
                "effective_from": [T0 - 1_000 * HOUR] * 3,
                "multiplier": [1.0, 1.0033, 1.0033],
            }
        ),
        listings=pl.LazyFrame(
            {
                "instrument_id": list(LISTINGS),
                "underlying": ["AAPL"] * 3,
                "quote_currency": list(LISTINGS.values()),
                "taker_fee_bps": [10.0] * 3,
                "tracking": ["rebasing", "total_return", "total_return"],
            }
        ),
        splits=pl.LazyFrame(
            schema={"underlying": pl.String, "effective_from": TS, "ratio": pl.Float64}
        ),
    )
    return tokens, context


def minimal_basis(tokens: pl.LazyFrame, context: BasisContext) -> pl.DataFrame:
    """The baseline: one as-of join per context, one FX source, no policy."""
    listed = tokens.join(
        context.listings.select("instrument_id", "underlying", "quote_currency"),
        on="instrument_id",
    ).sort("ts_event")
    refs = context.references.rename({"ts_event": "ref_ts"}).sort("ref_ts")
    fx = (
        context.fx.filter(pl.col("venue") == "a")
        .select(
            pl.col("ts_event").alias("fx_ts"),
            pl.col("currency").alias("quote_currency"),
            "rate_usd",
        )
        .sort("fx_ts")
    )
    joined = listed.join_asof(
        refs,
        left_on="ts_event",
        right_on="ref_ts",
        by="underlying",
        strategy="backward",
        check_sortedness=False,
    ).join_asof(
        fx,
        left_on="ts_event",
        right_on="fx_ts",
        by="quote_currency",
        strategy="backward",
        tolerance=timedelta(seconds=60),
        check_sortedness=False,
    )
    rate = pl.when(pl.col("quote_currency") == "USD").then(1.0).otherwise(pl.col("rate_usd"))
    mid = (pl.col("bid_px") + pl.col("ask_px")) / 2 * rate
    return joined.with_columns(
        ((mid / ((pl.col("bid") + pl.col("ask")) / 2) - 1) * 1e4).alias("basis_bps")
    ).collect()


def best_of(runs: int, fn: object) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
        rows = out.height
    return min(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tokens, context = inputs(args.tokens, random.Random(7))
    params = BasisParams.from_settings(BasisSettings())
    policy_s, policy_rows = best_of(
        args.runs, lambda: compute_basis(tokens, context, params).collect()
    )
    minimal_s, minimal_rows = best_of(args.runs, lambda: minimal_basis(tokens, context))
    print(f"token rows: {args.tokens:,}; best of {args.runs} runs")
    print(
        f"compute_basis (full policy): {policy_s * 1e3:8.1f} ms  "
        f"{policy_rows / policy_s:12,.0f} rows/s"
    )
    print(
        f"minimal as-of baseline:      {minimal_s * 1e3:8.1f} ms  "
        f"{minimal_rows / minimal_s:12,.0f} rows/s  (policy costs {policy_s / minimal_s:.1f}x)"
    )


if __name__ == "__main__":
    main()
