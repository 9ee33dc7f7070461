-- alert_upsert: write one alert episode's latest state (insert, or update the episode).
-- Grain: one alerts row per (fingerprint, active_at), inserted or replaced.
-- Params: $fingerprint, $rule_id, $state, $labels, $scope, $value_text, $session, $summary,
-- $explained_by, $notes, $inhibited_by, $silenced_by, $acknowledged_by, $assignee VARCHAR
-- (JSON where the column is); $active_at, $fired_at, $ends_at, $stale_since, $last_ts,
-- $acknowledged_at, $updated_at BIGINT epoch ns or NULL; $value, $threshold DOUBLE;
-- $muted BOOLEAN.
INSERT INTO alerts (
    fingerprint, active_at, rule_id, state, labels, scope, fired_at, ends_at, stale_since,
    last_ts, value, value_text, threshold, session, summary, explained_by, notes,
    inhibited_by, silenced_by, muted, acknowledged_by, acknowledged_at, assignee, updated_at
)
VALUES (
    $fingerprint, make_timestamp_ns($active_at), $rule_id, $state, $labels, $scope,
    make_timestamp_ns($fired_at), make_timestamp_ns($ends_at), make_timestamp_ns($stale_since),
    make_timestamp_ns($last_ts), $value, $value_text, $threshold, $session, $summary,
    $explained_by, $notes, $inhibited_by, $silenced_by, $muted, $acknowledged_by,
    make_timestamp_ns($acknowledged_at), $assignee, make_timestamp_ns($updated_at)
)
ON CONFLICT (fingerprint, active_at) DO UPDATE SET
    rule_id = excluded.rule_id,
    state = excluded.state,
    labels = excluded.labels,
    scope = excluded.scope,
    fired_at = excluded.fired_at,
    ends_at = excluded.ends_at,
    stale_since = excluded.stale_since,
    last_ts = excluded.last_ts,
    value = excluded.value,
    value_text = excluded.value_text,
    threshold = excluded.threshold,
    session = excluded.session,
    summary = excluded.summary,
    explained_by = excluded.explained_by,
    notes = excluded.notes,
    inhibited_by = excluded.inhibited_by,
    silenced_by = excluded.silenced_by,
    muted = excluded.muted,
    acknowledged_by = excluded.acknowledged_by,
    acknowledged_at = excluded.acknowledged_at,
    assignee = excluded.assignee,
    updated_at = excluded.updated_at;
