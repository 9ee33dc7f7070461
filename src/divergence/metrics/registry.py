"""The metrics the metrics job runs: one :class:`~divergence.metrics.windowed.MetricSpec`
per stored table (:data:`METRIC_SPECS`) and one
:class:`~divergence.metrics.windowed.DailySpec` per daily table (:data:`DAILY_SPECS`).

Each entry binds a pure metric function to the engine's input frames, with its table
name, row time, lookback/lookahead and column renames (units in the stored names).
Adding a metric is one entry here and its table's migration; the mechanism that runs
them is :mod:`divergence.metrics.windowed`.
"""

from __future__ import annotations

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.metrics.basis_stats import BASIS_STATS_LOOKBACK_NS, compute_basis_stats
from divergence.metrics.calendar_frames import et_date, et_midnight
from divergence.metrics.consolidated import (
    BUCKET_NS,
    CONSOLIDATED_BBO_LOOKBACK_NS,
    compute_consolidated_bbo,
)
from divergence.metrics.execution import (
    EXECUTION_LOOKAHEAD_NS,
    EXECUTION_LOOKBACK_NS,
    EXECUTION_ORDER,
    compute_execution_quality,
)
from divergence.metrics.fragmentation import (
    FRAGMENTATION_LOOKBACK_NS,
    TIME_AT_INSIDE_LOOKBACK_NS,
    compute_fragmentation,
    compute_time_at_inside,
)
from divergence.metrics.luld import (
    LULD_BANDS_LOOKBACK_NS,
    LULD_EVENTS_LOOKAHEAD_NS,
    LULD_EVENTS_LOOKBACK_NS,
    compute_luld_bands,
)
from divergence.metrics.luld_events import (
    compute_luld_events,
    compute_off_hours_band,
    finish_events,
)
from divergence.metrics.premium import (
    DAILY_PREMIUM_LOOKBACK_NS,
    compute_daily_premium,
    compute_persistent_premium,
)
from divergence.metrics.schemas import (
    OFFICIAL_CLOSES_SCHEMA,
    TS,
)
from divergence.metrics.scorecard import ORDER as SCORECARD_ORDER
from divergence.metrics.scorecard import compute_venue_scorecard
from divergence.metrics.stress import (
    STRESS_LOOKAHEAD_NS,
    STRESS_LOOKBACK_NS,
    STRESS_STATES_LOOKBACK_NS,
    compute_stress,
    compute_stress_states,
)
from divergence.metrics.stress_buckets import STRESS_BUCKETS_LOOKBACK_NS, compute_stress_buckets
from divergence.metrics.trade_through import ORDER as TRADE_THROUGH_ORDER
from divergence.metrics.trade_through import (
    TRADE_THROUGH_LOOKBACK_NS,
    compute_trade_through_summary,
    compute_trade_throughs,
)
from divergence.metrics.windowed import CLOSES_LOOKBACK_NS, DailySpec, Frames, MetricSpec


def _consolidated_bbo(frames: Frames, horizon: int) -> pl.LazyFrame:
    return compute_consolidated_bbo(frames["quotes"])


def _fragmentation_1s(frames: Frames, horizon: int) -> pl.LazyFrame:
    quotes, trades, reference = frames["quotes"], frames["trades"], frames["reference"]
    return compute_fragmentation(quotes, trades, reference, every="1s")


def _fragmentation_1m(frames: Frames, horizon: int) -> pl.LazyFrame:
    quotes, trades, reference = frames["quotes"], frames["trades"], frames["reference"]
    return compute_fragmentation(quotes, trades, reference, every="1m")


def _time_at_inside_1m(frames: Frames, horizon: int) -> pl.LazyFrame:
    return compute_time_at_inside(frames["quotes"], every="1m")


def _execution_quality(frames: Frames, horizon: int) -> pl.LazyFrame:
    bbo = compute_consolidated_bbo(frames["quotes"])
    return compute_execution_quality(frames["trades"], bbo, frames["reference"])


def _trade_throughs(frames: Frames, horizon: int) -> pl.LazyFrame:
    return compute_trade_throughs(frames["trades"], frames["quotes"])


def _bands(frames: Frames) -> pl.LazyFrame:
    prior = frames["closes"].select(*OFFICIAL_CLOSES_SCHEMA)
    return compute_luld_bands(frames["trades"], tiers=frames["tiers"], prior_closes=prior)


def _luld_bands(frames: Frames, horizon: int) -> pl.LazyFrame:
    """The band rows that are final at their time: every row from the day's first trade
    on, and the reset at ET midnight after a day with trades. A day's boundary rows
    before its first trade (bands null) exist only once the day trades, later: not kept
    (the reset row already says there are no bands)."""
    bands = _bands(frames)
    after_trades = (
        frames["trades"]
        .select("underlying", et_date("ts_event").dt.offset_by("1d").alias("et_date"))
        .unique()
        .with_columns(pl.lit(True).alias("_after_trades"))
    )
    reset = (pl.col("ts_event") == et_midnight(pl.col("et_date"))) & pl.col("_after_trades")
    return (
        bands.join(after_trades, on=["underlying", "et_date"], how="left")
        .filter(pl.col("ref_price").is_not_null() | reset.fill_null(False))
        .drop("_after_trades")
    )


def _luld_events(frames: Frames, horizon: int) -> pl.LazyFrame:
    """LULD events up to the horizon, and the off-hours band against the last close."""
    trades = frames["trades"]
    bbo = compute_consolidated_bbo(frames["quotes"])
    events = compute_luld_events(trades, bbo, _bands(frames), horizon_ns=horizon)
    last = frames["closes"].select("ts_event", "underlying", pl.col("close").alias("ref_price"))
    return finish_events(pl.concat([events, compute_off_hours_band(trades, last)]))


def _to_horizon(basis: pl.LazyFrame, horizon: int) -> pl.LazyFrame:
    """The basis rows and an unusable copy of the last at the horizon: the stress
    detector's bucket grid then runs to it, so in a gap of the rows its buckets (and an
    episode's close) are what a backfill that sees later rows computes."""
    mark = (
        basis.sort("ts_event", "source_seq")
        .tail(1)
        .with_columns(
            pl.lit(horizon).cast(TS).alias("ts_event"),
            pl.lit("missing").alias("ref_state"),
            pl.lit(None, pl.Float64).alias("basis_bps"),
        )
    )
    return pl.concat([basis, mark])


def _stress_states(frames: Frames, horizon: int) -> pl.LazyFrame:
    return compute_stress_states(compute_stress_buckets(_to_horizon(frames["basis"], horizon)))


def _stress_episodes(frames: Frames, horizon: int) -> pl.LazyFrame:
    return compute_stress(_to_horizon(frames["basis"], horizon))


def _basis_stats(frames: Frames, horizon: int) -> pl.LazyFrame:
    return compute_basis_stats(frames["basis"])


def _daily_premium(frames: Frames, horizon: int) -> pl.LazyFrame:
    bbo = compute_consolidated_bbo(frames["quotes"])
    return compute_daily_premium(bbo, frames["closes"].select(*OFFICIAL_CLOSES_SCHEMA))


def _trade_through_daily(frames: Frames) -> pl.LazyFrame:
    return compute_trade_through_summary(frames["trade_throughs"])


def _venue_scorecard_daily(frames: Frames) -> pl.LazyFrame:
    return compute_venue_scorecard(frames["execution_quality"], frames["trade_throughs"])


def _persistent_premium(frames: Frames) -> pl.LazyFrame:
    return compute_persistent_premium(frames["daily_premium"])


MINUTE_NS = 60 * NS_PER_SECOND
_TRADE_UNITS = {"price": "price_usd", "size": "size_shares"}
_EVENT_UNITS = {
    "price": "price_usd",
    "ref_price": "ref_price_usd",
    "lower_band": "lower_band_usd",
    "upper_band": "upper_band_usd",
}
METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        name="consolidated_bbo",
        compute=_consolidated_bbo,
        time_column="ts_event",
        inputs=("quotes",),
        lookback_ns=CONSOLIDATED_BBO_LOOKBACK_NS,
        order=("underlying", "ts_event"),
        columns={
            "best_bid": "best_bid_usd",
            "best_bid_sz": "best_bid_shares",
            "best_ask": "best_ask_usd",
            "best_ask_sz": "best_ask_shares",
        },
    ),
    *(
        MetricSpec(
            name=f"fragmentation_{every}",
            compute=compute,
            time_column="bucket_start",
            lookback_ns=FRAGMENTATION_LOOKBACK_NS,
            lookahead_ns=BUCKET_NS[every],
            bucket_ns=BUCKET_NS[every],
            order=("underlying", "bucket_start"),
            columns={"ref_mid": "ref_mid_usd"},
        )
        for every, compute in (("1s", _fragmentation_1s), ("1m", _fragmentation_1m))
    ),
    MetricSpec(
        name="time_at_inside_1m",
        compute=_time_at_inside_1m,
        time_column="bucket_start",
        inputs=("quotes",),
        lookback_ns=TIME_AT_INSIDE_LOOKBACK_NS,
        lookahead_ns=BUCKET_NS["1m"],
        bucket_ns=BUCKET_NS["1m"],
        order=("underlying", "bucket_start", "venue"),
    ),
    MetricSpec(
        name="execution_quality",
        compute=_execution_quality,
        time_column="ts_event",
        # Its rows read consolidated BBO rows from t - 60 s, which read quotes 120 s back.
        lookback_ns=EXECUTION_LOOKBACK_NS + CONSOLIDATED_BBO_LOOKBACK_NS,
        lookahead_ns=EXECUTION_LOOKAHEAD_NS,
        order=tuple(EXECUTION_ORDER),
        columns={
            **_TRADE_UNITS,
            "best_bid": "best_bid_usd",
            "best_ask": "best_ask_usd",
            "ref_nbb": "ref_nbb_usd",
            "ref_nbo": "ref_nbo_usd",
            "ref_mid": "ref_mid_usd",
        },
    ),
    MetricSpec(
        name="trade_throughs",
        compute=_trade_throughs,
        time_column="ts_event",
        inputs=("trades", "quotes"),
        lookback_ns=TRADE_THROUGH_LOOKBACK_NS,
        order=tuple(TRADE_THROUGH_ORDER),
        columns=_TRADE_UNITS,
    ),
    MetricSpec(
        name="luld_bands",
        compute=_luld_bands,
        time_column="ts_event",
        inputs=("trades", "closes", "tiers"),
        lookback_ns=LULD_BANDS_LOOKBACK_NS,
        input_lookback_ns={"closes": CLOSES_LOOKBACK_NS},
        order=("underlying", "ts_event"),
        columns={"window": "band_window", "prior_close": "prior_close_usd"}
        | {"ref_price": "ref_price_usd"}
        | {"lower_band": "lower_band_usd", "upper_band": "upper_band_usd"},
        min_step_ns=MINUTE_NS,
    ),
    MetricSpec(
        name="luld_events",
        compute=_luld_events,
        time_column="ts_start",
        inputs=("trades", "quotes", "closes", "tiers"),
        # The events' ET day and quote in force at its start (26 h), read as consolidated
        # BBO rows, which read quotes 120 s further back.
        lookback_ns=LULD_EVENTS_LOOKBACK_NS + CONSOLIDATED_BBO_LOOKBACK_NS,
        input_lookback_ns={"closes": CLOSES_LOOKBACK_NS},
        lookahead_ns=LULD_EVENTS_LOOKAHEAD_NS,
        order=("underlying", "ts_start", "event", "venue", "trade_id"),
        columns=_EVENT_UNITS,
        min_step_ns=MINUTE_NS,
    ),
    MetricSpec(
        name="stress_states",
        compute=_stress_states,
        time_column="bucket_start",
        inputs=("basis",),
        # A state reads 30 min of bucket rows, which read 31 min of basis rows.
        lookback_ns=STRESS_STATES_LOOKBACK_NS + STRESS_BUCKETS_LOOKBACK_NS,
        lookahead_ns=STRESS_LOOKAHEAD_NS,
        bucket_ns=STRESS_LOOKAHEAD_NS,
        order=("bucket_start",),
        min_step_ns=10 * NS_PER_SECOND,
    ),
    MetricSpec(
        name="stress_episodes",
        compute=_stress_episodes,
        time_column="closed_at",
        inputs=("basis",),
        lookback_ns=STRESS_LOOKBACK_NS,
        lookahead_ns=STRESS_LOOKAHEAD_NS,
        order=("closed_at", "episode_start"),
        min_step_ns=MINUTE_NS,
    ),
    MetricSpec(
        name="basis_stats",
        compute=_basis_stats,
        time_column="ts_event",
        inputs=("basis",),
        lookback_ns=BASIS_STATS_LOOKBACK_NS,
        order=("ts_event", "source_seq", "instrument_id"),
    ),
    MetricSpec(
        name="daily_premium",
        compute=_daily_premium,
        time_column="close_ts",
        inputs=("quotes", "closes"),
        # The mid at the close may be 60 s old; its BBO row reads quotes 120 s back.
        lookback_ns=DAILY_PREMIUM_LOOKBACK_NS + CONSOLIDATED_BBO_LOOKBACK_NS,
        input_lookback_ns={"closes": 0},
        order=("underlying", "trading_day"),
        columns={"close": "close_usd", "mid": "mid_usd", "pd": "pd_frac"},
    ),
)
"""The metrics of the metrics job, one table each (``name``): the consolidated BBO and
fragmentation of metrics.md §3.2 and §3.1, execution quality (§4.1), trade-throughs
(§4.3), the shadow LULD bands and events with the off-hours band (§5.1, §5.4, §5.5),
the market-wide stress states and episodes and the basis statistics (docs/metrics.md)
and the daily premium (§6), each with its module's default parameters (§9); LULD tiers
from the catalog."""

DAILY_SPECS: tuple[DailySpec, ...] = (
    DailySpec(
        name="trade_through_daily",
        compute=_trade_through_daily,
        sources=("trade_throughs",),
        order=("day", "underlying", "venue"),
    ),
    DailySpec(
        name="venue_scorecard_daily",
        compute=_venue_scorecard_daily,
        sources=("execution_quality", "trade_throughs"),
        order=tuple(SCORECARD_ORDER),
    ),
    DailySpec(
        name="persistent_premium",
        compute=_persistent_premium,
        sources=("daily_premium",),
        order=("underlying", "start_date"),
        whole=True,
    ),
)
"""Aggregates of the metrics above, one table each (``name``): trade-through rates
(§4.3) and the venue scorecard (§4.4) per ET day; persistent-premium runs (§6) over
every stored daily premium."""
