-- webhook_outbox_insert: queue one event for one endpoint; an existing (endpoint, webhook_id)
-- row is left as it is. Returns the row's seq when it was inserted.
-- Grain: at most one outbox row inserted. Params: $endpoint_id, $webhook_id, $event_id,
-- $state VARCHAR ('pending' or 'skipped'); $now BIGINT epoch ns.
INSERT INTO webhook_outbox (
    endpoint_id, webhook_id, event_id, state, attempts, next_attempt_at, last_status,
    last_error, created_at, updated_at
)
VALUES (
    $endpoint_id, $webhook_id, $event_id, $state, 0, make_timestamp_ns($now), NULL,
    NULL, make_timestamp_ns($now), make_timestamp_ns($now)
)
ON CONFLICT DO NOTHING
RETURNING seq;
