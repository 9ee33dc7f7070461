-- alert_silences_active: the silences not yet ended at $now (active or starting later),
-- the engine's silence input, ordered by id.
-- Grain: one row per silence. Params: $now BIGINT epoch ns. Times as BIGINT ns.
SELECT
    silence_id, matchers, epoch_ns(starts_at) AS starts_at, epoch_ns(ends_at) AS ends_at,
    created_by, comment, epoch_ns(created_at) AS created_at
FROM alert_silences
WHERE ends_at > make_timestamp_ns($now)
ORDER BY silence_id;
