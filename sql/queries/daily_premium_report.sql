-- daily_premium_report: the tokens' premium/discount at each close, Rule 6c-11 style.
-- title: Daily premium/discount (Rule 6c-11 style)
-- description: For each underlying and trading day, the regular-session close, the
--   consolidated token mid in force at the close, and the premium (+) or discount (-) in
--   percent and bps, as an ETF's website shows it under Rule 6c-11. Flags days beyond 2 %.
-- params: underlying (text, optional), days (integer, default 30)
-- Grain: one row per (underlying, trading_day) with a close, newest first, within the
-- last `days` trading days present in daily_premium.
WITH last_days AS (
    SELECT DISTINCT trading_day FROM daily_premium ORDER BY trading_day DESC LIMIT $days
)
SELECT
    p.underlying,
    p.trading_day,
    p.close_ts,
    round(p.close_usd, 4) AS close_usd,
    round(p.mid_usd, 4) AS token_mid_usd,
    p.mid_ts AS token_mid_ts,
    round(p.pd_frac * 100, 4) AS premium_pct,
    round(p.pd_frac * 1e4, 2) AS premium_bps,
    abs(p.pd_frac) > 0.02 AS beyond_2pct
FROM daily_premium AS p
WHERE p.trading_day IN (SELECT trading_day FROM last_days)
  AND ($underlying IS NULL OR p.underlying = $underlying)
ORDER BY p.trading_day DESC, p.underlying;
