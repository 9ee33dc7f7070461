-- webhook_event_insert: record an event and its body once; a known event_id is left as it
-- was (nothing returned), which is what makes enqueue idempotent.
-- Grain: at most one event row inserted. Params: $event_id, $webhook_id, $event_type
-- VARCHAR; $occurred_at, $now BIGINT epoch ns; $labels VARCHAR (JSON); $body VARCHAR.
INSERT INTO webhook_events (
    event_id, webhook_id, event_type, occurred_at, created_at, labels, body
)
VALUES (
    $event_id, $webhook_id, $event_type, make_timestamp_ns($occurred_at),
    make_timestamp_ns($now), $labels, $body
)
ON CONFLICT DO NOTHING
RETURNING event_id;
