-- alert_silence_expire: end a silence now (ends_at = $now) unless it already ended; returns
-- the silence id when it changed.
-- Grain: at most one alert_silences row updated. Params: $silence_id VARCHAR; $now BIGINT
-- epoch ns.
UPDATE alert_silences
SET ends_at = make_timestamp_ns($now)
WHERE silence_id = $silence_id AND ends_at > make_timestamp_ns($now)
RETURNING silence_id;
