-- webhook_endpoint_delete: remove one endpoint (its secrets and queue rows are handled by
-- webhook_secrets_delete and webhook_outbox_cancel in the same transaction).
-- Grain: one endpoint row deleted. Params: $endpoint_id VARCHAR.
DELETE FROM webhook_endpoints WHERE endpoint_id = $endpoint_id;
