-- webhook_outbox_record: the result of one attempt on a queued message: its new state,
-- attempt count, next attempt time and last status/error. Only a row still pending with
-- the attempt count the worker saw is changed (a replay or cancel in between wins).
-- Grain: at most one outbox row updated. Params: $endpoint_id, $webhook_id, $state,
-- $last_error VARCHAR; $attempts_before, $last_status INTEGER; $next_attempt, $now BIGINT.
UPDATE webhook_outbox SET
    state = $state,
    attempts = attempts + 1,
    next_attempt_at = make_timestamp_ns($next_attempt),
    last_status = $last_status,
    last_error = $last_error,
    updated_at = make_timestamp_ns($now)
WHERE endpoint_id = $endpoint_id
    AND webhook_id = $webhook_id
    AND state = 'pending'
    AND attempts = $attempts_before
RETURNING state;
