-- api_scorecard: venue_scorecard_daily rows for the HTTP API, in day order, one page.
-- Grain: one row per (day, underlying, venue, notional_bucket); day_ns is the ET day's
-- date at 00:00 UTC in epoch ns (the page key). The caller asks for one row more than the
-- page size to learn whether the page is truncated.
-- Params: $start, $end epoch ns on day_ns (end exclusive; NULL = unbounded);
--         $underlying, $venue (NULL = any); $limit rows at most.
SELECT epoch_ns(CAST(day AS TIMESTAMP_NS)) AS day_ns, *
FROM venue_scorecard_daily
WHERE ($start IS NULL OR CAST(day AS TIMESTAMP_NS) >= make_timestamp_ns($start))
  AND ($end IS NULL OR CAST(day AS TIMESTAMP_NS) < make_timestamp_ns($end))
  AND ($underlying IS NULL OR underlying = $underlying)
  AND ($venue IS NULL OR venue = $venue)
ORDER BY day, underlying, venue, notional_bucket NULLS FIRST
LIMIT $limit;
