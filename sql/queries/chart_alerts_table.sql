-- chart_alerts_table: alert episodes alive in the window (any state), newest first, for
-- the alerts dashboard's table, with the case work (ack, assignee, notes) and the window
-- of the underlying view around each episode (30 minutes either side).
-- Grain: one row per alert episode (fingerprint, active_at) overlapping [$start, $end).
-- Params: $venue (NULL: every venue; alerts without a venue label are kept too);
-- $start, $end epoch ns (end exclusive).
-- Columns: fingerprint, state, severity, rule, underlying, venue, since, until (ISO times),
-- value, ack (who acknowledged), assignee, notes (count), summary, view_start_ns,
-- view_end_ns, active_at_ns (epoch ns).
SELECT
    fingerprint,
    state,
    json_extract_string(labels, '$.severity') AS severity,
    rule_id AS rule,
    json_extract_string(labels, '$.underlying') AS underlying,
    json_extract_string(labels, '$.venue') AS venue,
    strftime(active_at, '%Y-%m-%d %H:%M:%S') AS since,
    strftime(ends_at, '%Y-%m-%d %H:%M:%S') AS until,
    round(value, 2) AS value,
    acknowledged_by AS ack,
    assignee,
    coalesce(json_array_length(notes), 0) AS notes,
    summary,
    epoch_ns(active_at) - 1800000000000 AS view_start_ns,
    epoch_ns(coalesce(ends_at, last_ts, active_at)) + 1800000000000 AS view_end_ns,
    epoch_ns(active_at) AS active_at_ns
FROM alerts
WHERE active_at < make_timestamp_ns($end)
  AND coalesce(ends_at, last_ts, active_at) >= make_timestamp_ns($start)
  AND ($venue IS NULL OR json_extract_string(labels, '$.venue') IS NULL
       OR json_extract_string(labels, '$.venue') = $venue)
ORDER BY active_at DESC, fingerprint
LIMIT 2000;
