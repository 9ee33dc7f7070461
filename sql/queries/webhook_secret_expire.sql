-- webhook_secret_expire: on rotation, let an endpoint's current secret(s) keep signing
-- until $expires (webhook_secrets_purge drops those whose overlap is over).
-- Grain: the endpoint's current secret rows. Params: $endpoint_id VARCHAR; $expires BIGINT.
UPDATE webhook_secrets SET expires_at = make_timestamp_ns($expires)
WHERE endpoint_id = $endpoint_id AND expires_at IS NULL;
