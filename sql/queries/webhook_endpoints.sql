-- webhook_endpoints: webhook endpoints with their state (never their secrets), oldest first.
-- Grain: one row per endpoint. Params: $endpoint_id VARCHAR ('' for every endpoint).
SELECT
    endpoint_id,
    url,
    description,
    event_types,
    label_filters,
    enabled,
    disabled_reason,
    consecutive_failures,
    epoch_ns(created_at) AS created_at_ns,
    epoch_ns(updated_at) AS updated_at_ns
FROM webhook_endpoints
WHERE $endpoint_id = '' OR endpoint_id = $endpoint_id
ORDER BY created_at, endpoint_id;
