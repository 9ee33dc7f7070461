-- webhook_event_get: one recorded event (for an idempotent enqueue of a known event_id).
-- Grain: zero or one event row. Params: $event_id VARCHAR.
SELECT event_id, webhook_id, event_type, body
FROM webhook_events
WHERE event_id = $event_id;
