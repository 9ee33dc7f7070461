-- webhook_secrets_meta: what the API shows of an endpoint's unexpired secrets: a sha256
-- fingerprint (12 hex digits) and the times, never the secret itself.
-- Grain: one row per unexpired secret, newest first. Params: $endpoint_id VARCHAR ('' for
-- every endpoint); $now BIGINT epoch ns.
SELECT
    endpoint_id,
    left(sha256(secret), 12) AS fingerprint,
    epoch_ns(created_at) AS created_at_ns,
    epoch_ns(expires_at) AS expires_at_ns
FROM webhook_secrets
WHERE ($endpoint_id = '' OR endpoint_id = $endpoint_id)
    AND (expires_at IS NULL OR expires_at > make_timestamp_ns($now))
ORDER BY endpoint_id, created_at DESC;
