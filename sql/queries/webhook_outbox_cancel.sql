-- webhook_outbox_cancel: a deleted endpoint's pending messages become cancelled (they stay
-- in the table, with the delivery log, for inspection).
-- Grain: the endpoint's pending outbox rows. Params: $endpoint_id VARCHAR; $now BIGINT.
UPDATE webhook_outbox SET state = 'cancelled', updated_at = make_timestamp_ns($now)
WHERE endpoint_id = $endpoint_id AND state = 'pending';
