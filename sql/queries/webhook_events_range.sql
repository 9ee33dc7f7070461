-- webhook_events_range: the events enqueued in [$start, $end), oldest first (replay).
-- Grain: one row per event. Params: $start, $end BIGINT epoch ns.
SELECT event_id, webhook_id, event_type, labels
FROM webhook_events
WHERE created_at >= make_timestamp_ns($start) AND created_at < make_timestamp_ns($end)
ORDER BY created_at, event_id;
