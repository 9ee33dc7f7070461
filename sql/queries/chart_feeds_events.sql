-- chart_feeds_events: how many feed events of each kind each venue logged in the window
-- (gaps, checksum mismatches, reconnects, stale periods...), for the feeds dashboard.
-- Grain: one row per (event kind, venue) with at least one event in [$start, $end).
-- Params: $venue (NULL: every venue); $start, $end epoch ns (end exclusive).
-- Columns: series (event kind), category (venue), value (count).
SELECT event AS series, venue AS category, CAST(count(*) AS DOUBLE) AS value
FROM feed_events
WHERE ts >= make_timestamp_ns($start) AND ts < make_timestamp_ns($end)
  AND ($venue IS NULL OR venue = $venue)
GROUP BY event, venue
ORDER BY category, series;
