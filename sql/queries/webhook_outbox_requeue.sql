-- webhook_outbox_requeue: send a message again under the same webhook-id (replay): a row
-- that is delivered, failed, skipped or cancelled becomes pending with a fresh schedule.
-- Grain: at most one outbox row updated. Params: $endpoint_id, $webhook_id VARCHAR;
-- $now BIGINT epoch ns.
UPDATE webhook_outbox SET
    state = 'pending',
    attempts = 0,
    next_attempt_at = make_timestamp_ns($now),
    updated_at = make_timestamp_ns($now)
WHERE endpoint_id = $endpoint_id AND webhook_id = $webhook_id AND state <> 'pending'
RETURNING seq;
