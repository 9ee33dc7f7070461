-- webhook_endpoint_insert: add one webhook endpoint (enabled or not, no failures yet).
-- Grain: one row inserted. Params: $endpoint_id, $url, $description VARCHAR;
-- $event_types VARCHAR[]; $label_filters VARCHAR (JSON object); $enabled BOOLEAN;
-- $now BIGINT epoch ns.
INSERT INTO webhook_endpoints (
    endpoint_id, url, description, event_types, label_filters, enabled, disabled_reason,
    consecutive_failures, created_at, updated_at
)
VALUES (
    $endpoint_id, $url, $description, $event_types, $label_filters, $enabled, NULL,
    0, make_timestamp_ns($now), make_timestamp_ns($now)
);
