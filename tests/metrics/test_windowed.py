"""The windowed recompute: windows chain, and live windows equal one backfill window.

The central property (hypothesis): random quotes, trades, reference quotes and basis
rows (with the prior close and tiers of the shadow LULD), cut at random watermarks and
computed window by window, give exactly the rows one window over everything gives, for
every spec the metrics job runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.registry import DAILY_SPECS, METRIC_SPECS
from divergence.metrics.schemas import (
    REFERENCE_NBBO_SCHEMA,
    TIERS_SCHEMA,
    USD_QUOTES_SCHEMA,
    USD_TRADES_SCHEMA,
)
from divergence.metrics.windowed import (
    BASIS_ROWS_SCHEMA,
    CLOSES_SCHEMA,
    Frames,
    MetricSpec,
    complete_days,
    et_day_bounds,
    is_timed,
    run_window,
)

S = NS_PER_SECOND
MS = NS_PER_MS
MINUTE = 60 * S
T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET
SPAN_MS = 240_000  # events within four minutes
END = T0 + SPAN_MS * MS + 6 * MINUTE  # past every lookahead (execution: 5 min)
SPECS = {spec.name: spec for spec in METRIC_SPECS}


def _ts(values: list[int]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(pl.Datetime("ns"))


# -- a toy spec: per trade, the number of quotes in [t - 10 s, t] -------------------------
def _count_quotes(frames: Frames, horizon: int) -> pl.LazyFrame:
    trades = frames["trades"].select("ts_event", "trade_id")
    quotes = frames["quotes"].select(pl.col("ts_event").alias("q_ts"))
    window = (pl.col("q_ts") >= pl.col("ts_event") - pl.duration(seconds=10)) & (
        pl.col("q_ts") <= pl.col("ts_event")
    )
    counted = trades.join(quotes, how="cross").group_by("ts_event", "trade_id").agg(window.sum())
    return trades.join(counted, on=["ts_event", "trade_id"], how="left").select(
        "ts_event", "trade_id", pl.col("q_ts").fill_null(0).cast(pl.Int64).alias("quotes")
    )


TOY = MetricSpec(
    name="toy",
    compute=_count_quotes,
    time_column="ts_event",
    inputs=("quotes", "trades"),
    lookback_ns=10 * S,
    lookahead_ns=2 * S,
    order=("ts_event", "trade_id"),
)


def _toy_frames() -> Frames:
    quotes = pl.DataFrame({"ts_event": _ts([T0 + k * S for k in (0, 5, 12, 20, 21)])})
    trades = pl.DataFrame(
        {"ts_event": _ts([T0 + 6 * S, T0 + 15 * S, T0 + 22 * S]), "trade_id": ["a", "b", "c"]}
    )
    return {"quotes": quotes.lazy(), "trades": trades.lazy()}


def test_run_window_keeps_final_rows_and_advances_done_until() -> None:
    frames = _toy_frames()
    # Watermark T0 + 20 s, lookahead 2 s: rows before T0 + 18 s are final: trades a, b.
    rows, done = run_window(TOY, frames, done_until=T0, watermark=T0 + 20 * S)
    # a at 6 s sees quotes at 0 and 5 (2); b at 15 s sees 5 and 12 (2).
    expected = pl.DataFrame(
        {"ts_event": _ts([T0 + 6 * S, T0 + 15 * S]), "trade_id": ["a", "b"], "quotes": [2, 2]}
    )
    assert_frame_equal(rows.collect(), expected)
    assert done == T0 + 18 * S
    # The next window starts there: c at 22 s sees 12, 20 and 21 (3); the quote at 0 s
    # is older than the 10 s lookback and is not even loaded.
    rows, done = run_window(TOY, frames, done_until=done, watermark=T0 + 30 * S)
    expected_c = pl.DataFrame({"ts_event": _ts([T0 + 22 * S]), "trade_id": ["c"], "quotes": [3]})
    assert_frame_equal(rows.collect(), expected_c)
    assert done == T0 + 28 * S


def test_run_window_without_progress_returns_nothing_and_keeps_done_until() -> None:
    rows, done = run_window(TOY, _toy_frames(), done_until=T0 + 18 * S, watermark=T0 + 19 * S)
    # T0 + 19 s - 2 s lookahead = T0 + 17 s < done_until: nothing new is final.
    assert done == T0 + 18 * S
    assert rows.collect().is_empty()


def test_run_window_reads_inputs_from_a_loader_over_the_window() -> None:
    calls: list[tuple[dict[str, int], int]] = []
    frames = _toy_frames()

    def loader(lo: Mapping[str, int], hi: int) -> Frames:
        calls.append((dict(lo), hi))
        return frames

    run_window(TOY, loader, done_until=T0 + 18 * S, watermark=T0 + 30 * S)
    # [done_until - lookback, watermark] = [T0 + 8 s, T0 + 30 s], for its two inputs only
    assert calls == [({"quotes": T0 + 8 * S, "trades": T0 + 8 * S}, T0 + 30 * S)]


def test_run_window_reads_each_input_over_its_own_lookback() -> None:
    seen: dict[str, list[int]] = {}

    def spy(frames: Frames, horizon: int) -> pl.LazyFrame:
        for name, frame in frames.items():
            seen[name] = frame.collect()["ts_event"].cast(pl.Int64).to_list()
        seen["horizon"] = [horizon]
        return _count_quotes(frames, horizon)

    spec = MetricSpec(
        name="spy", compute=spy, time_column="ts_event", inputs=("quotes", "trades"),
        lookback_ns=10 * S, input_lookback_ns={"trades": 0}, lookahead_ns=2 * S,
        order=("ts_event", "trade_id"),
    )  # fmt: skip
    run_window(spec, _toy_frames(), done_until=T0 + 15 * S, watermark=T0 + 30 * S)
    # quotes from T0 + 5 s (10 s lookback), trades from T0 + 15 s (none), to W = T0 + 30 s
    assert seen == {
        "quotes": [T0 + k * S for k in (5, 12, 20, 21)],
        "trades": [T0 + 15 * S, T0 + 22 * S],
        "horizon": [T0 + 30 * S],
    }


def test_metric_spec_done_until_rounds_buckets_up_to_complete_ones() -> None:
    spec = SPECS["fragmentation_1m"]  # bucket 60 s, lookahead 60 s
    # W = T0 + 150 s: cutoff T0 + 90 s; buckets starting before it (T0, T0 + 60 s) are
    # complete: [T0 + 60 s, T0 + 120 s) ends at T0 + 120 s <= W. done_until = T0 + 120 s.
    assert spec.done_until(T0 + 150 * S) == T0 + 120 * S
    # Exactly at a boundary: cutoff T0 + 60 s, bucket T0 + 60 s not complete (ends W + 0).
    assert spec.done_until(T0 + 120 * S) == T0 + 60 * S
    # A window from an unaligned done_until recomputes its whole bucket.
    assert spec.window_start(T0 + 61 * S) == T0 + 60 * S
    assert SPECS["execution_quality"].done_until(T0 + 400 * S) == T0 + 100 * S


def test_metric_spec_refuses_a_bucket_longer_than_the_lookahead() -> None:
    with pytest.raises(ConfigError, match="bucket_ns must be positive and covered"):
        MetricSpec(
            name="bad",
            compute=_count_quotes,
            time_column="bucket_start",
            lookback_ns=0,
            lookahead_ns=S,
            bucket_ns=60 * S,
            order=("bucket_start",),
        )
    with pytest.raises(ConfigError, match="lookback, lookahead and min_step must be >= 0"):
        MetricSpec(name="bad", compute=_count_quotes, time_column="t", lookback_ns=-1, order=())
    with pytest.raises(ConfigError, match=r"must be >= 0, found \[0, 0, -1\]"):
        MetricSpec(
            name="bad", compute=_count_quotes, time_column="t", lookback_ns=0, order=(),
            min_step_ns=-1,
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"inputs must be among .* found \['quotes', 'fx'\]"):
        MetricSpec(
            name="bad", compute=_count_quotes, time_column="t", lookback_ns=0, order=(),
            inputs=("quotes", "fx"),
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"cover input_lookback_ns, found .* \['trades'\]"):
        MetricSpec(
            name="bad", compute=_count_quotes, time_column="t", lookback_ns=0, order=(),
            inputs=("quotes",), input_lookback_ns={"trades": 0},
        )  # fmt: skip


def test_et_day_bounds_follow_daylight_saving() -> None:
    # 2025-03-09 is 23 h long in New York, 2025-11-02 25 h; 2025-09-15 (EDT) starts 04:00Z.
    start, end = et_day_bounds(date(2025, 3, 9))
    assert (end - start) == 23 * 3_600 * S
    start, end = et_day_bounds(date(2025, 11, 2))
    assert (end - start) == 25 * 3_600 * S
    assert et_day_bounds(date(2025, 9, 15))[0] == ns_from_datetime(
        datetime(2025, 9, 15, 4, 0, tzinfo=UTC)
    )


def test_complete_days_lists_only_days_ended_by_done_until() -> None:
    sep15_start, sep15_end = et_day_bounds(date(2025, 9, 15))
    # [Sep 15 03:00 ET, Sep 16 01:00 ET) overlaps Sep 15 and 16; done past Sep 15 only.
    lo, hi = sep15_start + 3 * 3_600 * S, sep15_end + 3_600 * S
    assert complete_days(lo, hi, done_until=sep15_end) == [date(2025, 9, 15)]
    assert complete_days(lo, hi, done_until=sep15_end - 1) == []
    assert complete_days(lo, lo, done_until=hi) == []
    assert {d.name for d in DAILY_SPECS} == {
        "trade_through_daily",
        "venue_scorecard_daily",
        "persistent_premium",
    }


# -- random event streams ------------------------------------------------------------------
UNDERLYINGS = ("AAPL", "TSLA")
VENUES = ("va", "vb", "vc")
ms_time = st.integers(0, SPAN_MS // 250).map(lambda k: k * 250)  # coarse: equal stamps
tick = st.integers(-6, 6)
jump = st.sampled_from([0, 0, 0, 0, 0, -600, 600])
"""Now and then a quote or trade 6 % away: outside the 5 % LULD band around 100."""
FRIDAY_CLOSE = ns_from_datetime(datetime(2025, 9, 12, 20, 0, tzinfo=UTC))  # Fri 16:00 ET


@st.composite
def event_streams(draw: st.DrawFn) -> Frames:
    """Quotes (books and a pool, some invalid, some far off), trades, reference quotes
    and basis rows; the prior (Friday) close of 100 and tiers 1 (AAPL) and 2 (TSLA)."""
    n_u = draw(st.integers(1, 2))
    n_v = draw(st.integers(2, 3))
    venues = st.sampled_from((*VENUES[:n_v], "vpool"))
    underlyings = st.sampled_from(UNDERLYINGS[:n_u])
    quote = st.tuples(
        ms_time, underlyings, venues, tick, st.integers(-1, 4), st.sampled_from([0.0, 10.0]), jump
    )
    trade = st.tuples(
        ms_time, underlyings, venues, st.integers(-8, 8), st.sampled_from([1.0, 50.0]), jump
    )
    side = st.sampled_from(["buy", "sell", "unknown"])
    ref = st.tuples(ms_time, underlyings, tick, st.sampled_from(["regular", "post", "closed"]))
    state = st.sampled_from(["live", "live", "closed", "stale"])
    basis = st.tuples(ms_time, underlyings, venues, st.integers(-80, 80), state, st.booleans())
    quotes = draw(st.lists(quote, min_size=20, max_size=60))
    trades = draw(st.lists(st.tuples(trade, side), min_size=5, max_size=30))
    refs = draw(st.lists(ref, min_size=1, max_size=12))
    rows = draw(st.lists(basis, min_size=5, max_size=60))
    return {
        "quotes": _quotes_frame(quotes).lazy(),
        "trades": _trades_frame(trades).lazy(),
        "reference": _reference_frame(refs).lazy(),
        "basis": _basis_frame(rows).lazy(),
        **_context(),
    }


def _quotes_frame(rows: list[tuple[int, str, str, int, int, float, int]]) -> pl.DataFrame:
    data = []
    for seq, (t, u, v, bid_tick, spread, fee, far) in enumerate(rows):
        bid = 100 + (bid_tick + far) * 0.01
        pool = v == "vpool"
        size = None if pool else 10.0 + seq % 3
        data.append(
            (T0 + t * MS, u, v, f"{u}x@{v}", "pool" if pool else "book", bid, size,
             bid + spread * 0.01, size, 0.0 if pool else fee, seq)
        )  # fmt: skip
    return pl.DataFrame(data, schema=USD_QUOTES_SCHEMA, orient="row")


def _trades_frame(rows: list[tuple[tuple[int, str, str, int, float, int], str]]) -> pl.DataFrame:
    data = []
    for seq, ((t, u, v, price_tick, size, far), side) in enumerate(rows):
        price = 100 + (price_tick + far) * 0.01
        data.append(
            (T0 + t * MS, u, v, f"{u}x@{v}", f"t{seq}", price, size, price * size, side,
             1_000 + seq)
        )  # fmt: skip
    return pl.DataFrame(data, schema=USD_TRADES_SCHEMA, orient="row")


def _reference_frame(rows: list[tuple[int, str, int, str]]) -> pl.DataFrame:
    data = [(T0 + t * MS, u, 100 + k * 0.01, 100.02 + k * 0.01, s) for t, u, k, s in rows]
    return pl.DataFrame(data, schema=REFERENCE_NBBO_SCHEMA, orient="row")


def _basis_frame(rows: list[tuple[int, str, str, int, str, bool]]) -> pl.DataFrame:
    data = [
        (T0 + t * MS, f"{u}x@{v}", v, u, "regular", state,
         "last_close" if closed else "nbbo", 2_000 + seq, bps * 2.5)
        for seq, (t, u, v, bps, state, closed) in enumerate(rows)
    ]  # fmt: skip
    return pl.DataFrame(data, schema=BASIS_ROWS_SCHEMA, orient="row")


def _context() -> dict[str, pl.LazyFrame]:
    """The prior close (Fri 12 Sep 2025, 100.00) of both underlyings, and their tiers."""
    closes = [(FRIDAY_CLOSE, u, date(2025, 9, 12), 100.0) for u in UNDERLYINGS]
    return {
        "closes": pl.DataFrame(closes, schema=CLOSES_SCHEMA, orient="row").lazy(),
        "tiers": pl.DataFrame([("AAPL", 1), ("TSLA", 2)], schema=TIERS_SCHEMA, orient="row").lazy(),
    }


def _live(spec: MetricSpec, frames: Frames, watermarks: list[int]) -> pl.DataFrame:
    """Window after window, each seeing only the inputs up to its watermark."""
    done, parts = T0, []
    for watermark in watermarks:
        visible = {
            name: frame.filter(pl.col("ts_event").cast(pl.Int64) <= watermark)
            if is_timed(name)
            else frame
            for name, frame in frames.items()
        }
        rows, done = run_window(spec, visible, done_until=done, watermark=watermark)
        parts.append(rows.collect())
    # Each window is sorted; the table a job writes them to is read back by the keys.
    return pl.concat(parts).sort(list(spec.order), maintain_order=True)


DELTAS = (0, 1, 250 * MS, S, 30 * S, 59 * S, 61 * S, 119 * S, 179 * S)
"""How far before an event's time a window starts: at it, just before, and about one
lookback before, where a window that loaded too little would go wrong."""


def _watermarks(spec: MetricSpec, frames: Frames, cuts: list[tuple[int, int]]) -> list[int]:
    """Watermarks whose windows start ``delta`` before the time of event ``index``."""
    stamps = pl.concat([frames["quotes"].select("ts_event"), frames["trades"].select("ts_event")])
    times = stamps.collect()["ts_event"].cast(pl.Int64).to_list()
    marks = {times[i % len(times)] - delta + spec.lookahead_ns for i, delta in cuts}
    return sorted({min(max(mark, T0), END) for mark in marks} | {END})


@pytest.mark.parametrize("name", list(SPECS))
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    frames=event_streams(),
    cuts=st.lists(st.tuples(st.integers(0, 90), st.sampled_from(DELTAS)), min_size=1, max_size=6),
)
def test_windowed_live_windows_equal_one_backfill_window(
    name: str, frames: Frames, cuts: list[tuple[int, int]]
) -> None:
    spec = SPECS[name]
    live = _live(spec, frames, _watermarks(spec, frames, cuts))
    backfill, done = run_window(spec, frames, done_until=T0, watermark=END)
    assert done == spec.done_until(END)
    assert_frame_equal(live, backfill.collect(), check_exact=False, rel_tol=1e-12, abs_tol=1e-9)


def _fixed_frames() -> Frames:
    quotes = [
        (0, "AAPL", "va", 0, 2, 10.0, 0), (0, "AAPL", "vb", 1, 2, 0.0, 0),
        (30_000, "AAPL", "vpool", -1, 4, 0.0, 0), (70_000, "AAPL", "va", 2, 1, 10.0, 0),
        (95_000, "AAPL", "vb", 3, 3, 0.0, 0), (130_000, "AAPL", "va", 1, 2, 10.0, 0),
        (150_000, "AAPL", "vb", 0, -1, 0.0, 0), (165_000, "AAPL", "va", -100, 2, 10.0, -600),
        (185_000, "AAPL", "va", 4, 2, 10.0, 0),
    ]  # fmt: skip
    trades = [
        ((72_000, "AAPL", "vb", 5, 50.0, 0), "buy"), ((140_000, "AAPL", "va", -3, 1.0, 0), "sell"),
        ((160_000, "AAPL", "vb", 0, 1.0, -600), "sell"),
        ((186_000, "AAPL", "vb", 6, 1.0, 0), "unknown"),
    ]  # fmt: skip
    refs = [(60_000, "AAPL", 0, "regular"), (139_000, "AAPL", 1, "regular")]
    basis = [
        (t * 1_000, "AAPL", v, (t * 7) % 23 - 11, "live", False)
        for t in range(0, 200, 5)
        for v in ("va", "vb")
    ]
    return {
        "quotes": _quotes_frame(quotes).lazy(),
        "trades": _trades_frame(trades).lazy(),
        "reference": _reference_frame(refs).lazy(),
        "basis": _basis_frame(basis).lazy(),
        **_context(),
    }


NO_FIXED_ROWS = {
    "stress_episodes": "an episode needs a 2-minute baseline and 30 s of stress: its "
    "lookback is proved in test_stress.py and on the sell-off (tests/e2e)",
    "daily_premium": "its rows are at the 16:00 ET close, hours after these inputs: "
    "proved in test_premium.py and on the sim close (tests/e2e)",
}
"""Specs whose rows the four fixed minutes cannot produce, and where the claim is tested."""


@pytest.mark.parametrize("name", [name for name in SPECS if name not in NO_FIXED_ROWS])
def test_windowed_lookback_claim_holds_for_each_spec(name: str) -> None:
    """Full input, rows >= t0, equals inputs from t0 - LOOKBACK, for t0 in the middle."""
    spec = SPECS[name]
    frames, t0 = _fixed_frames(), T0 + 120 * S  # aligned to 1 s and 1 min buckets
    full = spec.compute(frames, END).collect()
    end = spec.done_until(END)
    expected = full.filter(pl.col(spec.time_column).cast(pl.Int64).is_between(t0, end - 1))
    rows, _ = run_window(spec, frames, done_until=t0, watermark=END)
    assert not expected.is_empty()
    assert_frame_equal(rows.collect(), expected.sort(list(spec.order), maintain_order=True))
