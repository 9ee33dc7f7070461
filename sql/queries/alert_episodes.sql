-- alert_episodes: alert episodes alive in a time range, newest first: the alert list of the
-- API and the input of evidence bundles for ended episodes.
-- Grain: one row per (fingerprint, active_at). Params: $start, $end BIGINT epoch ns (an
-- episode is listed when it began before $end and had not ended before $start);
-- $fingerprint VARCHAR ('' for all); $limit BIGINT. Times as BIGINT ns.
SELECT
    fingerprint, epoch_ns(active_at) AS active_at, rule_id, state, labels, scope,
    epoch_ns(fired_at) AS fired_at, epoch_ns(ends_at) AS ends_at,
    epoch_ns(stale_since) AS stale_since, epoch_ns(last_ts) AS last_ts, value, value_text,
    threshold, session, summary, explained_by, notes, inhibited_by, silenced_by, muted,
    acknowledged_by, epoch_ns(acknowledged_at) AS acknowledged_at, assignee,
    epoch_ns(updated_at) AS updated_at
FROM alerts
WHERE active_at < make_timestamp_ns($end)
    AND (ends_at IS NULL OR ends_at >= make_timestamp_ns($start))
    AND ($fingerprint = '' OR fingerprint = $fingerprint)
ORDER BY active_at DESC, fingerprint
LIMIT $limit;
