-- trade_through_report: Rule 611-style trade-throughs per underlying and venue over a window.
-- title: Trade-through report
-- description: Token trades that printed outside another venue's protected quote (with
--   the 1 s flickering-quote exemption) over the window (default: the last week of
--   trades): rates by trades and by notional, how far through, and which venue's quote
--   was traded through most often.
-- params: start (timestamp, optional), end (timestamp, optional), underlying (text, optional), venue (text, optional)
-- Grain: one row per (underlying, venue) with trades in the window.
WITH bounds AS (
    SELECT
        coalesce($end, (SELECT max(ts_event) FROM trade_throughs) + INTERVAL 1 MICROSECOND)
            AS end_ts,
        coalesce($start, coalesce($end, (SELECT max(ts_event) FROM trade_throughs))
            - INTERVAL 7 DAY) AS start_ts
),
window_trades AS (
    SELECT t.*
    FROM trade_throughs AS t, bounds
    WHERE t.ts_event >= bounds.start_ts AND t.ts_event < bounds.end_ts
      AND ($underlying IS NULL OR t.underlying = $underlying)
      AND ($venue IS NULL OR t.venue = $venue)
)
SELECT
    underlying, venue,
    count(*) AS trades,
    count(traded_through) AS trades_evaluated,
    count(*) FILTER (WHERE traded_through) AS trades_through,
    round(100.0 * count(*) FILTER (WHERE traded_through) / nullif(count(traded_through), 0), 2)
        AS rate_trades_pct,
    round(sum(notional_usd), 2) AS notional_usd,
    round(sum(notional_usd) FILTER (WHERE traded_through), 2) AS notional_through_usd,
    round(100.0 * sum(notional_usd) FILTER (WHERE traded_through)
        / nullif(sum(notional_usd) FILTER (WHERE traded_through IS NOT NULL), 0), 2)
        AS rate_notional_pct,
    round(avg(trade_through_bps) FILTER (WHERE traded_through), 2) AS mean_through_bps,
    round(max(trade_through_bps) FILTER (WHERE traded_through), 2) AS max_through_bps,
    count(*) FILTER (WHERE flicker_exempt) AS flicker_exempt,
    mode(protected_venue) FILTER (WHERE traded_through) AS most_traded_through_venue
FROM window_trades
GROUP BY ALL
ORDER BY underlying, venue;
