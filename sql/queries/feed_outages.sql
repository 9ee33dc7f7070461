-- feed_outages: feed health per venue and stream: stale stretches, gaps, disconnects and the rest.
-- title: Feed gaps and outages
-- description: From feed_events over the window (default: all of them; the bus's own
--   events carry wall-clock times, the venues' their feed time), per venue, stream and
--   kind of event: how often it happened, the total and longest of its value (seconds
--   stale or silent, missing sequence numbers, outage seconds at a reconnect) and when
--   it first and last happened. Stream '' is the connection itself.
-- params: start (timestamp, optional), end (timestamp, optional), venue (text, optional), event (text, optional)
-- Grain: one row per (venue, stream, event) with events in the window.
SELECT
    f.venue, f.stream, f.event,
    count(*) AS events,
    round(sum(f.value), 3) AS total_value,
    round(max(f.value), 3) AS max_value,
    min(f.ts) AS first_at,
    max(f.ts) AS last_at,
    arg_max(f.detail, f.value) AS worst_detail
FROM feed_events AS f
WHERE ($start IS NULL OR f.ts >= $start) AND ($end IS NULL OR f.ts < $end)
  AND ($venue IS NULL OR f.venue = $venue)
  AND ($event IS NULL OR f.event = $event)
GROUP BY ALL
ORDER BY f.venue, f.stream, f.event;
