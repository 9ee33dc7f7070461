-- webhook_endpoint_record_attempt: count an attempt's result against its endpoint. A success
-- clears the failure count; a failure adds one, and disables the endpoint on HTTP 410
-- ($gone) or when the count reaches $limit. Returns the endpoint's new state.
-- Grain: one endpoint row updated. Params: $endpoint_id VARCHAR; $ok, $gone BOOLEAN;
-- $limit INTEGER; $reason VARCHAR (disabled_reason if this disables it); $now BIGINT.
UPDATE webhook_endpoints SET
    consecutive_failures = CASE WHEN $ok THEN 0 ELSE consecutive_failures + 1 END,
    enabled = enabled AND ($ok OR (NOT $gone AND consecutive_failures + 1 < $limit)),
    disabled_reason = CASE
        WHEN enabled AND NOT $ok AND ($gone OR consecutive_failures + 1 >= $limit) THEN $reason
        ELSE disabled_reason
    END,
    updated_at = make_timestamp_ns($now)
WHERE endpoint_id = $endpoint_id
RETURNING enabled, consecutive_failures;
