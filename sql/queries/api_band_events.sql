-- api_band_events: shadow LULD events (luld_events) for the HTTP API, by start time, one page.
-- Grain: one row per event (underlying, ts_start, event, venue, trade_id); the caller asks
-- for one row more than the page size to learn whether the page is truncated.
-- Params: $start, $end epoch ns on ts_start (end exclusive; NULL = unbounded);
--         $underlying, $venue, $event (NULL = any); $limit rows at most.
SELECT epoch_ns(ts_start) AS ts_start_ns, epoch_ns(ts_end) AS ts_end_ns,
       * EXCLUDE (ts_start, ts_end)
FROM luld_events
WHERE ($start IS NULL OR ts_start >= make_timestamp_ns($start))
  AND ($end IS NULL OR ts_start < make_timestamp_ns($end))
  AND ($underlying IS NULL OR underlying = $underlying)
  AND ($venue IS NULL OR venue = $venue)
  AND ($event IS NULL OR event = $event)
ORDER BY ts_start, underlying, event, venue NULLS FIRST, trade_id NULLS FIRST
LIMIT $limit;
