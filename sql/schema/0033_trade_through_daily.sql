-- trade_through_daily: trade-through rates per ET day, underlying and venue (metrics.md
-- 4.3; divergence.metrics.trade_through.compute_trade_through_summary).
-- Grain: one row per (day, underlying, venue); day is the America/New_York date. Written
-- by the metrics job from the stored trade_throughs rows once the whole ET day is final
-- (rewritten if late inputs change that day); rates are over the evaluated trades.
CREATE TABLE trade_through_daily (
    day                    DATE NOT NULL,
    underlying             VARCHAR NOT NULL,
    venue                  VARCHAR NOT NULL,
    trades                 BIGINT NOT NULL,
    trades_evaluated       BIGINT NOT NULL,
    trades_through         BIGINT NOT NULL,
    notional_usd           DOUBLE,
    notional_through_usd   DOUBLE,
    rate_trades_pct        DOUBLE,
    rate_notional_pct      DOUBLE,
    mean_trade_through_bps DOUBLE
);
