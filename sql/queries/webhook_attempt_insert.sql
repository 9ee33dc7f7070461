-- webhook_attempt_insert: append one attempt to the delivery log.
-- Grain: one attempt row inserted. Params: $endpoint_id, $webhook_id, $event_id, $url,
-- $error, $outcome VARCHAR; $attempt, $status INTEGER; $ts BIGINT epoch ns;
-- $latency_ms DOUBLE; $disabled BOOLEAN.
INSERT INTO webhook_attempts (
    endpoint_id, webhook_id, event_id, attempt, ts, url, status, latency_ms, error,
    outcome, disabled
)
VALUES (
    $endpoint_id, $webhook_id, $event_id, $attempt, make_timestamp_ns($ts), $url, $status,
    $latency_ms, $error, $outcome, $disabled
);
