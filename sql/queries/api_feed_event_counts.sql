-- api_feed_event_counts: how often each kind of feed event happened, per venue and stream,
-- over the whole history in this database (across restarts), with the latest time.
-- Grain: one row per (venue, stream, event).
SELECT
    venue,
    stream,
    event,
    count(*) AS n,
    epoch_ns(max(ts)) AS last_ts_ns,
    sum(value) AS total_value
FROM feed_events
GROUP BY venue, stream, event
ORDER BY venue, stream, event;
