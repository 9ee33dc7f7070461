-- webhook_secrets_purge: delete an endpoint's secrets that expired before $before (all of
-- them when $before is far in the future and $all is true, for a deleted endpoint).
-- Grain: secret rows deleted. Params: $endpoint_id VARCHAR; $before BIGINT; $all BOOLEAN.
DELETE FROM webhook_secrets
WHERE endpoint_id = $endpoint_id
    AND ($all OR expires_at <= make_timestamp_ns($before));
