-- api_feed_events: the feed event log, newest first, one page at a time.
-- Grain: one row per feed event. Params: $venue VARCHAR ('' for all), $event VARCHAR ('' for
-- all), $start and $end BIGINT epoch ns ([start, end)), $before_seq BIGINT (keyset
-- pagination: only rows with ingest_seq < $before_seq), $limit BIGINT.
SELECT
    epoch_ns(ts) AS ts_ns,
    venue,
    stream,
    event,
    detail,
    value,
    ingest_seq
FROM feed_events
WHERE ($venue = '' OR venue = $venue)
    AND ($event = '' OR event = $event)
    AND ts >= make_timestamp_ns($start)
    AND ts < make_timestamp_ns($end)
    AND ingest_seq < $before_seq
ORDER BY ingest_seq DESC
LIMIT $limit;
