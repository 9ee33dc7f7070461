-- webhook_endpoint_update: set an endpoint's editable fields (the caller merged the change).
-- Turning an endpoint on clears its failure count and disabled_reason.
-- Grain: one endpoint row updated. Params: $endpoint_id, $url, $description VARCHAR;
-- $event_types VARCHAR[]; $label_filters VARCHAR (JSON); $enabled BOOLEAN; $now BIGINT.
UPDATE webhook_endpoints SET
    url = $url,
    description = $description,
    event_types = $event_types,
    label_filters = $label_filters,
    disabled_reason = CASE WHEN $enabled THEN NULL ELSE coalesce(disabled_reason, 'disabled by a user') END,
    consecutive_failures = CASE WHEN $enabled AND NOT enabled THEN 0 ELSE consecutive_failures END,
    enabled = $enabled,
    updated_at = make_timestamp_ns($now)
WHERE endpoint_id = $endpoint_id;
