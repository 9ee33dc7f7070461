-- chart_bestex_scorecard: the FINRA 5310-style venue scorecard (venue_scorecard_daily,
-- metrics.md 4.4) for the ET days the window touches, one line per venue and Rule 605
-- notional bucket, for a sortable table. Share-weighted daily averages as stored;
-- material_difference: the venue's effective spread trails the day's best venue in the
-- same bucket by more than 10 bps.
-- Grain: one row per (day, venue, notional_bucket) with trades.
-- Params: $underlying; $venue (NULL = every venue); $start, $end epoch ns (end exclusive).
-- Columns: day (ET date), venue, bucket (Rule 605 notional range), trades, shares,
-- notional_usd, effective_spread_bps, realized_spread_15s_bps, realized_spread_1m_bps,
-- price_improvement_bps, ref_price_improvement_bps, eq_ratio_pct, trade_through_rate_pct,
-- best_effective_spread_bps, material_difference, notional_bucket (the code).
SELECT day, venue,
       CASE notional_bucket
           WHEN 0 THEN '< $250'
           WHEN 250 THEN '$250-1k'
           WHEN 1000 THEN '$1k-5k'
           WHEN 5000 THEN '$5k-10k'
           WHEN 10000 THEN '$10k-20k'
           WHEN 20000 THEN '$20k-50k'
           WHEN 50000 THEN '$50k-200k'
           WHEN 200000 THEN '>= $200k'
           ELSE 'unknown'
       END AS bucket,
       trades, shares, notional_usd, effective_spread_bps, realized_spread_15s_bps,
       realized_spread_1m_bps, price_improvement_bps, ref_price_improvement_bps,
       eq_ratio_pct, trade_through_rate_pct, best_effective_spread_bps, material_difference,
       notional_bucket
FROM venue_scorecard_daily
WHERE underlying = $underlying
  AND ($venue IS NULL OR venue = $venue)
  AND day >= CAST(make_timestamp_ns($start) AT TIME ZONE 'UTC' AT TIME ZONE 'America/New_York'
                  AS DATE)
  AND day <= CAST(make_timestamp_ns($end - 1) AT TIME ZONE 'UTC'
                  AT TIME ZONE 'America/New_York' AS DATE)
ORDER BY day DESC, notional_bucket NULLS LAST, venue;
