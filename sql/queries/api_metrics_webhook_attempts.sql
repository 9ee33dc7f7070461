-- api_metrics_webhook_attempts: webhook delivery attempts ever recorded, by outcome, for /metrics.
-- Grain: one row per outcome (delivered, retry, failed) with attempts in webhook_attempts.
-- Params: none.
SELECT outcome, count(*) AS attempts
FROM webhook_attempts
GROUP BY outcome
ORDER BY outcome;
