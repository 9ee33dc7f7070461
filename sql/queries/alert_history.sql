-- alert_history: every alert episode in a window, with its state, times and case work.
-- title: Alert history
-- description: Alerts that became active in the window (default: the last week of
--   alerts), newest first, filterable by rule, state and underlying: when each became
--   active, fired and ended, how long it fired, its value against the threshold, its
--   summary, and who acknowledged it or holds it.
-- params: start (timestamp, optional), end (timestamp, optional), rule_id (text, optional), state (text, optional), underlying (text, optional)
-- Grain: one row per alert episode (fingerprint, active_at).
WITH bounds AS (
    SELECT
        coalesce($end, (SELECT max(active_at) FROM alerts) + INTERVAL 1 MICROSECOND) AS end_ts,
        coalesce($start, coalesce($end, (SELECT max(active_at) FROM alerts)) - INTERVAL 7 DAY)
            AS start_ts
)
SELECT
    a.active_at, a.fired_at, a.ends_at,
    round(date_diff('millisecond', a.fired_at, a.ends_at) / 1000.0, 1) AS fired_s,
    a.rule_id, a.state,
    json_extract_string(a.labels, '$.severity') AS severity,
    json_extract_string(a.labels, '$.underlying') AS underlying,
    json_extract_string(a.labels, '$.venue') AS venue,
    a.value, a.threshold, a.session, a.summary,
    a.acknowledged_by, a.assignee, a.muted, a.fingerprint
FROM alerts AS a, bounds
WHERE a.active_at >= bounds.start_ts AND a.active_at < bounds.end_ts
  AND ($rule_id IS NULL OR a.rule_id = $rule_id)
  AND ($state IS NULL OR a.state = $state)
  AND ($underlying IS NULL OR json_extract_string(a.labels, '$.underlying') = $underlying)
ORDER BY a.active_at DESC, a.fingerprint;
