-- webhook_secrets_active: the secrets an endpoint's messages are signed with now: the
-- current one and any rotated-out one still inside its overlap, newest first.
-- Grain: one row per active secret. Params: $endpoint_id VARCHAR; $now BIGINT epoch ns.
SELECT secret
FROM webhook_secrets
WHERE endpoint_id = $endpoint_id
    AND (expires_at IS NULL OR expires_at > make_timestamp_ns($now))
ORDER BY created_at DESC;
