-- alert_audit_list: the audit trail of one alert, oldest first (optionally one episode).
-- Grain: one row per audit record. Params: $fingerprint VARCHAR; $episode BIGINT epoch ns
-- (0 for every episode). Times as BIGINT ns.
SELECT
    audit_id, epoch_ns(ts) AS ts, fingerprint, epoch_ns(episode) AS episode, rule_id, action,
    actor, detail, epoch_ns(recorded_at) AS recorded_at
FROM alert_audit
WHERE fingerprint = $fingerprint
    AND ($episode = 0 OR episode = make_timestamp_ns($episode))
ORDER BY ts, recorded_at, audit_id;
