"""compute_fragmentation and compute_time_at_inside on hand-computed cases
(docs/_draft_fragmentation.md)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from functools import partial
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.errors import BadRequestError, ConfigError
from divergence.metrics.fragmentation import (
    FRAGMENTATION_LOOKBACK_NS,
    FRAGMENTATION_SCHEMA,
    TIME_AT_INSIDE_LOOKBACK_NS,
    TIME_AT_INSIDE_SCHEMA,
    VENUE_WEIGHTS_SCHEMA,
    FragmentationParams,
    compute_concentration,
    compute_fragmentation,
    compute_time_at_inside,
)

T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # a whole minute
S = NS_PER_SECOND
MS = S // 1000
TS = pl.Datetime("ns")
FEES = {"a": 10.0, "b": 0.0, "c": 30.0}
close = partial(assert_frame_equal, rel_tol=1e-12, abs_tol=1e-12)


def _ts(offsets: list[int]) -> pl.Series:
    return pl.Series([T0 + o for o in offsets], dtype=pl.Int64).cast(TS)


def quotes(*rows: tuple[int, str, float, float, float, float]) -> pl.LazyFrame:
    """(ns after T0, venue, bid, bid_sz, ask, ask_sz) for AAPL; taker fee from FEES."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "venue": [r[1] for r in rows],
            "instrument_id": [f"AAPLx@{r[1]}" for r in rows],
            "source_kind": ["book"] * len(rows),
            "bid": [r[2] for r in rows],
            "bid_sz": [r[3] for r in rows],
            "ask": [r[4] for r in rows],
            "ask_sz": [r[5] for r in rows],
            "fee_bps": [FEES[r[1]] for r in rows],
            "source_seq": list(range(1, len(rows) + 1)),
        },
        schema_overrides={"bid": pl.Float64, "ask": pl.Float64},
    )


def trades(*rows: tuple[int, str, float]) -> pl.LazyFrame:
    """(ns after T0, venue, notional_usd) for AAPL, priced at 100."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "venue": [r[1] for r in rows],
            "instrument_id": [f"AAPLx@{r[1]}" for r in rows],
            "trade_id": [str(i) for i in range(len(rows))],
            "price": [100.0] * len(rows),
            "size": [r[2] / 100.0 for r in rows],
            "notional_usd": [r[2] for r in rows],
            "side": ["buy"] * len(rows),
            "source_seq": list(range(1, len(rows) + 1)),
        },
        schema_overrides={"venue": pl.String, "notional_usd": pl.Float64},
    )


def reference(*rows: tuple[int, float, float, str]) -> pl.LazyFrame:
    """(ns after T0, nbb, nbo, session) for AAPL."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "nbb": [r[1] for r in rows],
            "nbo": [r[2] for r in rows],
            "session": [r[3] for r in rows],
        },
        schema_overrides={"nbb": pl.Float64, "nbo": pl.Float64, "session": pl.String},
    )


ZEROS = {"volume_usd": 0.0, "locked_ns": 0, "locked_frac": 0.0, "crossed_ns": 0}
ZEROS |= {"crossed_frac": 0.0, "crossed_net_ns": 0, "crossed_net_frac": 0.0}


def expected(*rows: dict[str, Any]) -> pl.DataFrame:
    """FRAGMENTATION_SCHEMA rows for AAPL; ``bucket`` = ns after T0; absent = null."""
    columns: dict[str, list[Any]] = {name: [] for name in FRAGMENTATION_SCHEMA}
    for row in rows:
        values = {**ZEROS, **row, "underlying": "AAPL", "bucket_start": T0 + row["bucket"]}
        for name in FRAGMENTATION_SCHEMA:
            columns[name].append(values.get(name))
    frame = pl.DataFrame(columns, schema_overrides={"bucket_start": pl.Int64})
    return frame.cast(FRAGMENTATION_SCHEMA)


def hhi(*weights: float) -> dict[str, float]:
    """HHI = Σ s², FFI = 1/HHI, 1 − HHI from raw weights."""
    h = sum((w / sum(weights)) ** 2 for w in weights)
    return {"hhi": h, "ffi": 1 / h, "frag": 1 - h}


def suffixed(values: dict[str, float], suffix: str) -> dict[str, float]:
    return {f"{k}_{suffix}": v for k, v in values.items()}


# Two venues over the minute [0, 60 s), then [60, 120 s); fees a 10 bps, b 0.
TWO_VENUES = quotes(
    (-10 * S, "a", 99.0, 10.0, 100.0, 20.0),  # in force at the bucket start
    (20 * S, "b", 99.0, 5.0, 101.0, 5.0),  # tie at the bid 99
    (25 * S, "a", 99.0, 10.0, 100.0, 20.0),  # a refreshes: in force until 85 s
    (30 * S, "b", 100.0, 5.0, 101.0, 5.0),  # locked: BB = BA = 100
    (40 * S, "b", 100.05, 5.0, 101.0, 5.0),  # crossed by 0.05, not net of a's fee
    (45 * S, "b", 100.7, 5.0, 101.0, 5.0),  # crossed by 0.7, net 100.7 − 100 · 1.001
)
TWO_TRADES = trades((5 * S, "a", 300.0), (50 * S, "b", 100.0))
REF_59S = reference((59 * S, 99.5, 100.5, "regular"))  # R = 100 at 60 s − 1 ns (1 s old)


def test_fragmentation_two_venues_one_minute() -> None:
    result = compute_fragmentation(TWO_VENUES, TWO_TRADES, REF_59S, every="1m").collect()
    # depth = ∫ (bid·bid_sz + ask·ask_sz) dt / 60 s.  a: 99·10 + 100·20 = 2990 all minute;
    # b: 1000 × 10 s + 1005 × 10 s + (500.25 + 505) × 5 s + (503.5 + 505) × 15 s = 40203.75
    depth_a, depth_b = 2990.0 * 60, 40203.75
    # at 60 s − 1 ns: m_a = 99.5, m_b = 100.85, R = 100; volume shares 0.75 / 0.25
    # m̄ = 99.8375; Σ w (m − m̄)² = 0.75·0.3375² + 0.25·1.0125² = 0.34171875
    first = {
        "bucket": 0,
        "active_venues": 2,
        "volume_usd": 400.0,
        **suffixed(hhi(300.0, 100.0), "volume"),  # 0.625, 1.6, 0.375
        "depth_usd": (depth_a + depth_b) / 60,
        **suffixed(hhi(depth_a, depth_b), "depth"),
        "ref_mid": 100.0,
        "mid_range_bps": (100.85 - 99.5) / 100 * 1e4,  # 135
        "mid_dispersion_bps": math.sqrt(0.34171875) / 100 * 1e4,  # 58.456...
        "locked_ns": 10 * S,  # [30, 40)
        "locked_frac": 10 / 60,
        "crossed_ns": 20 * S,  # [40, 60)
        "crossed_frac": 20 / 60,
        "crossed_bps_max": (100.7 - 100.0) / 100 * 1e4,  # 70
        "crossed_bps_avg": ((100.05 - 100.0) * 5 + (100.7 - 100.0) * 15) / 20 / 100 * 1e4,
        # net: max(99 · 0.999, 100.7) − min(100 · 1.001, 101) = 0.6 over [45, 60)
        "crossed_net_ns": 15 * S,
        "crossed_net_frac": 15 / 60,
        "crossed_net_bps_max": (100.7 - 100.1) / 100 * 1e4,  # 60
        "crossed_net_bps_avg": (100.7 - 100.1) / 100 * 1e4,
    }
    # [60, 120): a until 85 s, b until 105 s; no trade; the reference is 61 s old (> 2 s)
    second = {
        "bucket": 60 * S,
        "active_venues": 2,
        "depth_usd": (2990.0 * 25 + 1008.5 * 45) / 60,
        **suffixed(hhi(2990.0 * 25, 1008.5 * 45), "depth"),
        "crossed_ns": 25 * S,  # [60, 85): 100.7 > 100
        "crossed_frac": 25 / 60,
        "crossed_net_ns": 25 * S,
        "crossed_net_frac": 25 / 60,
    }
    # [−60, 0): only a, quoted at −10 s; no reference yet
    before = {
        "bucket": -60 * S,
        "active_venues": 1,
        "depth_usd": 2990.0 * 10 / 60,
        **suffixed(hhi(1.0), "depth"),
    }
    close(result, expected(before, first, second))  # [120, 180) has nothing: no row


def test_fragmentation_one_venue_one_second_buckets_expiry_and_empty_bucket() -> None:
    params = FragmentationParams(quote_max_age_ns=2 * S)
    result = compute_fragmentation(
        quotes(
            (500 * MS, "a", 10.0, 1.0, 11.0, 1.0),  # in force [0.5, 2.5): expires
            (4_250 * MS, "b", 10.5, 1.0, 11.5, 1.0),  # in force [4.25, 6.25)
        ),
        trades((1_200 * MS, "a", 50.0)),
        reference((0, 10.0, 11.0, "overnight")),  # R = 10.5 for 60 s
        every="1s",
        params=params,
    ).collect()
    one = {**suffixed(hhi(1.0), "depth"), "active_venues": 1, "ref_mid": 10.5}
    rows = expected(
        # depth a = (10 + 11) × 0.5 s / 1 s; one venue: HHI 1, FFI 1, 1 − HHI 0, range 0
        {**one, "bucket": 0, "depth_usd": 10.5, "mid_range_bps": 0.0},
        {
            **one,
            **suffixed(hhi(50.0), "volume"),
            "bucket": 1 * S,
            "volume_usd": 50.0,
            "depth_usd": 21.0,
            "mid_range_bps": 0.0,
            "mid_dispersion_bps": 0.0,
        },
        {**one, "bucket": 2 * S, "depth_usd": 10.5},  # a expired at 2.5 s: no mid at end
        # [3, 4): no quote in force, no trade: no row
        {**one, "bucket": 4 * S, "depth_usd": 22.0 * 0.75, "mid_range_bps": 0.0},
        {**one, "bucket": 5 * S, "depth_usd": 22.0, "mid_range_bps": 0.0},
        {**one, "bucket": 6 * S, "depth_usd": 22.0 * 0.25},
    )
    close(result, rows)


@pytest.mark.parametrize(
    ("session", "age_ns", "ref_mid"),
    [
        ("regular", 2 * S, 100.0),  # at the limit: used
        ("regular", 2 * S + 1, None),  # 1 ns older: stale
        ("post", 30 * S, 100.0),
        ("overnight", 61 * S, None),
        ("closed", 0, None),  # no limit: never R
    ],
)
def test_fragmentation_reference_age_limit_by_session(
    session: str, age_ns: int, ref_mid: float | None
) -> None:
    end = 60 * S - 1  # the bucket's last nanosecond
    result = compute_fragmentation(
        quotes((0, "a", 99.0, 1.0, 101.0, 1.0)),
        trades(),
        reference((end - age_ns, 99.5, 100.5, session)),
        every="1m",
    ).collect()
    mid_range = None if ref_mid is None else 0.0
    close(
        result.select("ref_mid", "mid_range_bps"),
        pl.DataFrame(
            {"ref_mid": [ref_mid], "mid_range_bps": [mid_range]},
            schema={"ref_mid": pl.Float64, "mid_range_bps": pl.Float64},
        ),
    )


def test_fragmentation_takes_depth_weights_from_elsewhere() -> None:
    weights = pl.LazyFrame(
        {
            "underlying": ["AAPL", "AAPL", "AAPL"],
            "bucket_start": _ts([0, 0, 60 * S]),
            "venue": ["a", "b", "a"],
            "weight": [3.0, 1.0, 0.0],
        }
    )
    result = compute_fragmentation(
        TWO_VENUES, TWO_TRADES, REF_59S, every="1m", depth_weights=weights
    ).collect()
    # bucket −60 s: no weight; 0: shares 0.75 / 0.25; 60 s: total weight 0 → null
    close(
        result.select("depth_usd", "hhi_depth", "ffi_depth", "frag_depth"),
        pl.DataFrame(
            {
                "depth_usd": [0.0, 4.0, 0.0],
                "hhi_depth": [None, 0.625, None],
                "ffi_depth": [None, 1.6, None],
                "frag_depth": [None, 0.375, None],
            }
        ),
    )


def test_concentration_three_venues() -> None:
    weights = pl.LazyFrame(
        {
            "underlying": ["AAPL"] * 4,
            "bucket_start": _ts([0, 0, 0, 0]),
            "venue": ["a", "b", "c", "c"],
            "weight": [50.0, 30.0, 10.0, 10.0],  # c: 20 in two rows
        },
        schema=VENUE_WEIGHTS_SCHEMA,
    )
    result = compute_concentration(weights, suffix="x").collect()
    h = 0.5**2 + 0.3**2 + 0.2**2  # 0.38
    close(
        result,
        pl.DataFrame(
            {
                "underlying": ["AAPL"],
                "bucket_start": _ts([0]),
                "total_x": [100.0],
                "hhi_x": [h],
                "ffi_x": [1 / h],
                "frag_x": [1 - h],
            }
        ),
    )


def test_fragmentation_refuses_an_unknown_bucket_width() -> None:
    with pytest.raises(BadRequestError, match="every: expected '1s' or '1m', found '5m'"):
        compute_fragmentation(TWO_VENUES, TWO_TRADES, REF_59S, every="5m")  # type: ignore[arg-type]


def test_fragmentation_params_refuse_non_positive_limits() -> None:
    with pytest.raises(ConfigError, match=r"fragmentation\.reference_max_age_ns\.regular"):
        FragmentationParams(reference_max_age_ns={"regular": 0})


def tai(*rows: tuple[int, str, float, float, float, float, float]) -> pl.DataFrame:
    """(bucket ns after T0, venue, quoted, at_bid, at_ask, alone_bid, alone_ask)."""
    names = [n for n in TIME_AT_INSIDE_SCHEMA if n not in ("underlying", "bucket_start")]
    frame = pl.DataFrame(
        {
            "underlying": ["AAPL"] * len(rows),
            "bucket_start": _ts([r[0] for r in rows]),
            **{name: [r[i + 1] for r in rows] for i, name in enumerate(names)},
        }
    )
    return frame.cast(TIME_AT_INSIDE_SCHEMA)


def test_time_at_inside_one_minute() -> None:
    result = compute_time_at_inside(TWO_VENUES, every="1m").collect()
    # [0, 60): bid 99 a alone [0, 20), tie [20, 30), b above from 30 s; ask a 100 < b 101
    # [60, 120): a until 85 s (ask alone), b until 105 s (bid alone; ask alone [85, 105))
    close(
        result,
        tai(
            (-60 * S, "a", 10 / 60, 10 / 60, 10 / 60, 10 / 60, 10 / 60),  # [−10, 0)
            (0, "a", 1.0, 30 / 60, 1.0, 20 / 60, 1.0),
            (0, "b", 40 / 60, 40 / 60, 0.0, 30 / 60, 0.0),
            (60 * S, "a", 25 / 60, 0.0, 25 / 60, 0.0, 25 / 60),
            (60 * S, "b", 45 / 60, 45 / 60, 20 / 60, 45 / 60, 20 / 60),
        ),
    )


def test_time_at_inside_ties_in_one_second_buckets() -> None:
    params = FragmentationParams(quote_max_age_ns=1_500 * MS)
    result = compute_time_at_inside(
        quotes(
            (0, "a", 100.0, 1.0, 101.0, 1.0),  # until 1.5 s
            (250 * MS, "b", 100.0, 1.0, 101.0, 1.0),  # tie at both sides
            (750 * MS, "b", 100.5, 1.0, 101.0, 1.0),  # b alone at the bid until 2.25 s
        ),
        every="1s",
        params=params,
    ).collect()
    close(
        result,
        tai(
            (0, "a", 1.0, 0.75, 1.0, 0.25, 0.25),
            (0, "b", 0.75, 0.75, 0.75, 0.25, 0.0),
            (1 * S, "a", 0.5, 0.0, 0.5, 0.0, 0.0),
            (1 * S, "b", 1.0, 1.0, 1.0, 1.0, 0.5),
            (2 * S, "b", 0.25, 0.25, 0.25, 0.25, 0.25),
        ),
    )


def random_market(seed: int, *, minutes: int) -> tuple[pl.LazyFrame, ...]:
    """Quotes of 3 venues a few seconds apart (some gaps beyond the quote age, some
    crossed across venues, some invalid), trades, and a reference every 1.5 s."""
    rng = random.Random(seed)
    end = minutes * 60 * S
    rows, prints = [], []
    for venue in ("a", "b", "c"):
        t = rng.randrange(0, 5 * S)
        while t < end:
            bid = 100.0 + rng.choice([-0.5, 0.0, 0.0, 0.25, 0.5])
            ask = bid + rng.choice([0.0, 0.25, 0.5])
            rows.append((t, venue, bid, float(rng.randint(1, 9)), ask, float(rng.randint(1, 9))))
            if rng.random() < 0.5:
                prints.append((t + rng.randrange(0, S), venue, float(rng.randint(1, 9) * 100)))
            t += rng.choice([1, 2, 3, 5, 8, 75]) * S + rng.randrange(0, S)
    refs = [(t, 99.9, 100.1, "regular") for t in range(0, end, 1_500 * MS)]
    return quotes(*sorted(rows)), trades(*sorted(prints)), reference(*refs)


def after(frame: pl.LazyFrame, start_ns: int, column: str = "ts_event") -> pl.LazyFrame:
    return frame.filter(pl.col(column) >= pl.lit(T0 + start_ns).cast(TS))


@pytest.mark.parametrize("every", ["1s", "1m"])
def test_fragmentation_lookback_window_matches_full_history(every: str) -> None:
    inputs, t0 = random_market(3, minutes=20), 10 * 60 * S

    def run(lookback_ns: int | None) -> pl.DataFrame:
        window = [f if lookback_ns is None else after(f, t0 - lookback_ns) for f in inputs]
        result = compute_fragmentation(*window, every=every)  # type: ignore[arg-type]
        return after(result, t0, "bucket_start").collect()

    full = run(None)
    assert full.height >= 10
    assert full["crossed_ns"].sum() > 0
    close(run(FRAGMENTATION_LOOKBACK_NS), full)
    assert not run(5 * S).equals(full)  # the state in force at t0 comes from before it


@pytest.mark.parametrize("every", ["1s", "1m"])
def test_time_at_inside_lookback_window_matches_full_history(every: str) -> None:
    frame, t0 = random_market(4, minutes=20)[0], 10 * 60 * S

    def run(lookback_ns: int | None) -> pl.DataFrame:
        window = frame if lookback_ns is None else after(frame, t0 - lookback_ns)
        result = compute_time_at_inside(window, every=every)  # type: ignore[arg-type]
        return after(result, t0, "bucket_start").collect()

    full = run(None)
    assert full.height >= 20
    close(run(TIME_AT_INSIDE_LOOKBACK_NS), full)
    assert not run(5 * S).equals(full)
