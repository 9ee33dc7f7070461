-- alerts_active: the engine's active alerts (pending, firing, stale-data), to restore its
-- state at start-up, ordered by fingerprint.
-- Grain: one row per active alert (one active episode per fingerprint). Times as BIGINT ns.
SELECT
    fingerprint, epoch_ns(active_at) AS active_at, rule_id, state, labels, scope,
    epoch_ns(fired_at) AS fired_at, epoch_ns(ends_at) AS ends_at,
    epoch_ns(stale_since) AS stale_since, epoch_ns(last_ts) AS last_ts, value, value_text,
    threshold, session, summary, explained_by, notes, inhibited_by, silenced_by, muted,
    acknowledged_by, epoch_ns(acknowledged_at) AS acknowledged_at, assignee,
    epoch_ns(updated_at) AS updated_at
FROM alerts
WHERE state IN ('pending', 'firing', 'stale-data')
ORDER BY fingerprint;
