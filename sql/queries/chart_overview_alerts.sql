-- chart_overview_alerts: the open alerts (pending, firing, stale-data), worst first, with
-- the window of the underlying view around each (30 minutes either side of the episode).
-- Grain: one row per open alert episode (fingerprint, active_at).
-- Params: $venue (NULL: every venue; else alerts without a venue label are kept too).
-- Columns: fingerprint, state, severity, rule, underlying, venue, since (ISO time),
-- value, summary, view_start_ns, view_end_ns, active_at_ns (epoch ns, as text in JSON).
SELECT
    fingerprint,
    state,
    json_extract_string(labels, '$.severity') AS severity,
    rule_id AS rule,
    json_extract_string(labels, '$.underlying') AS underlying,
    json_extract_string(labels, '$.venue') AS venue,
    strftime(active_at, '%Y-%m-%d %H:%M:%S') AS since,
    round(value, 2) AS value,
    summary,
    epoch_ns(active_at) - 1800000000000 AS view_start_ns,
    epoch_ns(coalesce(ends_at, last_ts, active_at)) + 1800000000000 AS view_end_ns,
    epoch_ns(active_at) AS active_at_ns
FROM alerts
WHERE state IN ('pending', 'firing', 'stale-data')
  AND ($venue IS NULL OR json_extract_string(labels, '$.venue') IS NULL
       OR json_extract_string(labels, '$.venue') = $venue)
ORDER BY CASE json_extract_string(labels, '$.severity')
             WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
         active_at DESC, fingerprint;
