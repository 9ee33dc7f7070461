-- api_metrics_alerts: open alerts (pending, firing, stale-data) by severity, for /metrics.
-- Grain: one row per (severity, state) with open alerts, as persisted by the alerts job's
-- last step; severity is the alert's `severity` label ('' when absent).
-- Params: none.
SELECT coalesce(json_extract_string(labels, '$.severity'), '') AS severity, state,
       count(*) AS alerts
FROM alerts
WHERE state IN ('pending', 'firing', 'stale-data')
GROUP BY ALL
ORDER BY severity, state;
