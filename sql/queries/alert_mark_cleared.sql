-- alert_mark_cleared: an active episode the engine dropped without resolving it (pending,
-- then the condition went away) becomes 'cleared'.
-- Grain: at most one alerts row updated. Params: $fingerprint VARCHAR; $active_at,
-- $updated_at BIGINT epoch ns.
UPDATE alerts
SET state = 'cleared', updated_at = make_timestamp_ns($updated_at)
WHERE fingerprint = $fingerprint
    AND active_at = make_timestamp_ns($active_at)
    AND state IN ('pending', 'firing', 'stale-data');
