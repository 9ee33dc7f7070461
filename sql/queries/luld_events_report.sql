-- luld_events_report: shadow LULD band breaches, limit states, pauses and off-hours band trades.
-- title: LULD events
-- description: What an equity venue's Limit Up-Limit Down mechanism would have done
--   against the token prices over the window (default: the last week of data): each band
--   breach, limit-state and pause equivalent, and each off-hours trade more than 20 %
--   from the last regular-session reference, with the band in force and how far outside.
-- params: start (timestamp, optional), end (timestamp, optional), underlying (text, optional), event (text, optional)
-- Grain: one row per luld_events row in the window, in time order.
WITH bounds AS (
    SELECT
        coalesce($end, (SELECT max(ts_event) FROM basis) + INTERVAL 1 MICROSECOND) AS end_ts,
        coalesce($start, coalesce($end, (SELECT max(ts_event) FROM basis)) - INTERVAL 7 DAY)
            AS start_ts
)
SELECT
    l.ts_start, l.ts_end, l.underlying, l.event, l.side, l.session, l.venue, l.trade_id,
    round(l.price_usd, 4) AS price_usd,
    round(l.ref_price_usd, 4) AS ref_price_usd,
    round(l.lower_band_usd, 4) AS lower_band_usd,
    round(l.upper_band_usd, 4) AS upper_band_usd,
    round(CASE
        WHEN l.price_usd > l.upper_band_usd THEN (l.price_usd / l.upper_band_usd - 1) * 1e4
        WHEN l.price_usd < l.lower_band_usd THEN (l.price_usd / l.lower_band_usd - 1) * 1e4
    END, 2) AS outside_band_bps
FROM luld_events AS l, bounds
WHERE l.ts_start >= bounds.start_ts AND l.ts_start < bounds.end_ts
  AND ($underlying IS NULL OR l.underlying = $underlying)
  AND ($event IS NULL OR l.event = $event)
ORDER BY l.ts_start, l.underlying, l.event;
