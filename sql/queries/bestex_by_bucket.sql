-- bestex_by_bucket: best execution by Rule 605 notional bucket: sweeping all venues against the best single venue and the stock.
-- title: Best execution by Rule 605 bucket
-- description: From the sweep-cost samples over the window (default: the last week of
--   samples), per underlying, side and notional: how often the size could be filled, the
--   average and worst cost of fragmentation (best single venue against the consolidated
--   sweep) and the consolidated fill against the underlying's NBBO mid, in bps.
-- params: start (timestamp, optional), end (timestamp, optional), underlying (text, optional)
-- Grain: one row per (underlying, side, notional_usd).
WITH bounds AS (
    SELECT
        coalesce($end, (SELECT max(ts_event) FROM sweep_costs_1m) + INTERVAL 1 MICROSECOND)
            AS end_ts,
        coalesce($start, coalesce($end, (SELECT max(ts_event) FROM sweep_costs_1m))
            - INTERVAL 7 DAY) AS start_ts
)
SELECT
    s.underlying, s.side, s.notional_usd,
    count(*) AS samples,
    round(100.0 * count(*) FILTER (WHERE s.fillable) / count(*), 2) AS fillable_pct,
    round(100.0 * count(s.fill_best_venue_usd) / count(*), 2) AS single_venue_fillable_pct,
    round(avg(s.cost_of_fragmentation_bps), 3) AS mean_cost_of_fragmentation_bps,
    round(max(s.cost_of_fragmentation_bps), 3) AS max_cost_of_fragmentation_bps,
    round(avg(s.token_vs_stock_gap_bps), 3) AS mean_token_vs_stock_bps,
    mode(s.best_venue) AS usual_best_venue
FROM sweep_costs_1m AS s, bounds
WHERE s.ts_event >= bounds.start_ts AND s.ts_event < bounds.end_ts
  AND ($underlying IS NULL OR s.underlying = $underlying)
GROUP BY ALL
ORDER BY s.underlying, s.side, s.notional_usd;
