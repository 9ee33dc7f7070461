-- webhook_outbox_resume: when an endpoint is enabled again, its pending messages restart
-- their retry schedule now (attempt count back to zero; the delivery log keeps history).
-- Grain: the endpoint's pending outbox rows. Params: $endpoint_id VARCHAR; $now BIGINT.
UPDATE webhook_outbox SET
    attempts = 0,
    next_attempt_at = make_timestamp_ns($now),
    updated_at = make_timestamp_ns($now)
WHERE endpoint_id = $endpoint_id AND state = 'pending';
