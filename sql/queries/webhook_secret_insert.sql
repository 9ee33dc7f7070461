-- webhook_secret_insert: store an endpoint's new current secret.
-- Grain: one secret row inserted. Params: $endpoint_id, $secret VARCHAR; $now BIGINT.
INSERT INTO webhook_secrets (endpoint_id, secret, created_at, expires_at)
VALUES ($endpoint_id, $secret, make_timestamp_ns($now), NULL);
