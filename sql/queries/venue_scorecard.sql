-- venue_scorecard: a FINRA 5310-style venue scorecard over any window, from the trades.
-- title: Venue scorecard
-- description: Per underlying, venue and Rule 605 notional bucket over the window
--   (default: the last week of trades), share-weighted effective and realized (1 min)
--   spreads, price improvement against the consolidated token BBO and the underlying
--   NBBO, the share of trades at or inside the quote, and the trade-through rate. The
--   daily table venue_scorecard_daily holds the same for complete ET days.
-- params: start (timestamp, optional), end (timestamp, optional), underlying (text, optional)
-- Grain: one row per (underlying, venue, notional_bucket) with trades in the window.
WITH bounds AS (
    SELECT
        coalesce($end, (SELECT max(ts_event) FROM execution_quality) + INTERVAL 1 MICROSECOND)
            AS end_ts,
        coalesce($start, coalesce($end, (SELECT max(ts_event) FROM execution_quality))
            - INTERVAL 7 DAY) AS start_ts
),
trades AS (
    SELECT e.*, t.traded_through
    FROM execution_quality AS e
    CROSS JOIN bounds
    LEFT JOIN trade_throughs AS t USING (source_seq)
    WHERE e.ts_event >= bounds.start_ts AND e.ts_event < bounds.end_ts
      AND ($underlying IS NULL OR e.underlying = $underlying)
)
SELECT
    underlying, venue, notional_bucket,
    count(*) AS trades,
    round(sum(size_shares), 4) AS shares,
    round(sum(notional_usd), 2) AS notional_usd,
    round(sum(effective_spread_bps * size_shares) / sum(size_shares)
        FILTER (WHERE effective_spread_bps IS NOT NULL), 3) AS effective_spread_bps,
    round(sum(realized_spread_1m_bps * size_shares) / sum(size_shares)
        FILTER (WHERE realized_spread_1m_bps IS NOT NULL), 3) AS realized_spread_1m_bps,
    round(sum(price_improvement_bps * size_shares) / sum(size_shares)
        FILTER (WHERE price_improvement_bps IS NOT NULL), 3) AS price_improvement_bps,
    round(sum(ref_price_improvement_bps * size_shares) / sum(size_shares)
        FILTER (WHERE ref_price_improvement_bps IS NOT NULL), 3) AS ref_price_improvement_bps,
    round(100.0 * count(*) FILTER (WHERE execution_class IN ('improved', 'at_quote'))
        / count(*) FILTER (WHERE execution_class IS NOT NULL), 2) AS at_or_inside_pct,
    round(100.0 * count(*) FILTER (WHERE traded_through)
        / count(*) FILTER (WHERE traded_through IS NOT NULL), 2) AS trade_through_rate_pct
FROM trades
GROUP BY ALL
ORDER BY underlying, venue, notional_bucket;
