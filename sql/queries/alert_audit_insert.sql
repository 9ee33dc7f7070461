-- alert_audit_insert: append one audit record; a known audit_id (the same change, e.g. a
-- step recomputed after a crash) is ignored, so appending is idempotent.
-- Grain: at most one alert_audit row inserted. Params: $audit_id, $fingerprint, $rule_id,
-- $action, $actor, $detail (JSON) VARCHAR; $ts, $episode, $recorded_at BIGINT epoch ns.
INSERT INTO alert_audit (
    audit_id, ts, fingerprint, episode, rule_id, action, actor, detail, recorded_at
)
VALUES (
    $audit_id, make_timestamp_ns($ts), $fingerprint, make_timestamp_ns($episode), $rule_id,
    $action, $actor, $detail, make_timestamp_ns($recorded_at)
)
ON CONFLICT DO NOTHING;
