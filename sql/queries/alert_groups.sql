-- alert_groups: the notification groups of the engine's state, to restore it at start-up.
-- Grain: one row per group key. Times as BIGINT ns.
SELECT
    group_key, name, labels, epoch_ns(created_at) AS created_at, seq,
    epoch_ns(last_flush_at) AS last_flush_at, epoch_ns(last_firing_at) AS last_firing_at,
    notified, resolved
FROM alert_groups
ORDER BY group_key;
