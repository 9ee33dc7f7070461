-- venue_scorecard_daily: the FINRA 5310-style venue scorecard per ET day (metrics.md 4.4;
-- divergence.metrics.scorecard). Share-weighted averages over the day's trades.
-- Grain: one row per (day, underlying, venue, notional_bucket) with trades; day is the
-- America/New_York date, notional_bucket the Rule 605 code. Written by the metrics job
-- from the stored execution_quality and trade_throughs rows once the whole ET day is
-- final in both (rewritten if late inputs change that day).
--   material_difference  effective_spread_bps trails the day's best venue in the same
--                        bucket (best_effective_spread_bps) by more than 10 bps
CREATE TABLE venue_scorecard_daily (
    day                       DATE NOT NULL,
    underlying                VARCHAR NOT NULL,
    venue                     VARCHAR NOT NULL,
    notional_bucket           INTEGER,
    trades                    BIGINT NOT NULL,
    shares                    DOUBLE,
    notional_usd              DOUBLE,
    effective_spread_bps      DOUBLE,
    realized_spread_15s_bps   DOUBLE,
    realized_spread_1m_bps    DOUBLE,
    price_improvement_bps     DOUBLE,
    ref_price_improvement_bps DOUBLE,
    eq_ratio_pct              DOUBLE,
    trade_through_rate_pct    DOUBLE,
    best_effective_spread_bps DOUBLE,
    material_difference       BOOLEAN
);
