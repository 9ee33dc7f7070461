-- api_metrics_outbox: webhook outbox rows by state, and the attempts they record, for /metrics.
-- Grain: one row per outbox state present (pending, delivered, failed, skipped, cancelled).
-- Params: none.
SELECT state, count(*) AS messages, sum(attempts) AS attempts
FROM webhook_outbox
GROUP BY state
ORDER BY state;
