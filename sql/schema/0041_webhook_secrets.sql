-- webhook_secrets: the signing secrets of each endpoint ('whsec_' + base64 key).
-- Grain: one row per (endpoint, secret). expires_at is NULL for the current secret; a
-- rotation stamps the previous one with now + webhooks.secret_overlap_s, and until then
-- every message carries one signature per unexpired secret. Never selected by the API
-- (only a sha256 fingerprint of it), never logged.
CREATE TABLE webhook_secrets (
    endpoint_id VARCHAR NOT NULL,
    secret      VARCHAR NOT NULL,
    created_at  TIMESTAMP_NS NOT NULL,
    expires_at  TIMESTAMP_NS
);
