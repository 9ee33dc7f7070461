-- webhook_attempts_list: an endpoint's delivery log, newest first, one page.
-- Grain: one row per attempt. Params: $endpoint_id VARCHAR; $start, $end BIGINT epoch ns
-- ([start, end) on the attempt time); $before_id BIGINT (keyset cursor: attempt_id <
-- $before_id); $limit BIGINT.
SELECT
    attempt_id,
    epoch_ns(ts) AS ts_ns,
    webhook_id,
    event_id,
    attempt,
    url,
    status,
    latency_ms,
    error,
    outcome,
    disabled
FROM webhook_attempts
WHERE endpoint_id = $endpoint_id
    AND ts >= make_timestamp_ns($start)
    AND ts < make_timestamp_ns($end)
    AND attempt_id < $before_id
ORDER BY attempt_id DESC
LIMIT $limit;
