-- daily_premium: the Rule 6c-11-style premium/discount of the tokens per close (metrics.md
-- 6; divergence.metrics.premium.compute_daily_premium).
-- Grain: one row per (underlying, trading_day) with a close: the last regular-session
-- reference mid (no official closing price feed yet). Written by the metrics job once the
-- watermark passed the close, live and in backfill; replaced by close_ts range.
--   close_ts   the regular close (16:00 ET, 13:00 on early-close days)
--   close_usd  the close, USD per share
--   mid_ts, mid_usd  the consolidated token mid in force at close_ts (at most 60 s old)
--   pd_frac    (mid - close) / close, a fraction (0.02 = 2 %); NULL without a mid
CREATE TABLE daily_premium (
    underlying  VARCHAR NOT NULL,
    trading_day DATE NOT NULL,
    close_ts    TIMESTAMP_NS NOT NULL,
    close_usd   DOUBLE NOT NULL,
    mid_ts      TIMESTAMP_NS,
    mid_usd     DOUBLE,
    pd_frac     DOUBLE
);
