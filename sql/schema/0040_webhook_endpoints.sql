-- webhook_endpoints: the receivers that subscribe to divergence events, managed through
-- the API (/api/webhooks/endpoints). Grain: one row per endpoint.
-- event_types: the types it receives ('alert.firing', or a prefix 'alert.*'); empty = all.
-- label_filters: JSON object {label: value}; an event is sent only when every listed label
-- of its data.labels has that value ({} = no label filter). enabled turns false on an
-- HTTP 410 or after webhooks.disable_after_failures consecutive failed attempts, with the
-- reason in disabled_reason. Secrets live in webhook_secrets, never here.
CREATE TABLE webhook_endpoints (
    endpoint_id          VARCHAR PRIMARY KEY,
    url                  VARCHAR NOT NULL,
    description          VARCHAR NOT NULL,
    event_types          VARCHAR[] NOT NULL,
    label_filters        VARCHAR NOT NULL,
    enabled              BOOLEAN NOT NULL,
    disabled_reason      VARCHAR,
    consecutive_failures INTEGER NOT NULL,
    created_at           TIMESTAMP_NS NOT NULL,
    updated_at           TIMESTAMP_NS NOT NULL
);
