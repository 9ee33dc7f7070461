-- webhook_outbox_heads: the next message of every enabled endpoint (its oldest pending row
-- by seq: later rows wait until it is delivered or given up), with its URL and body.
-- Grain: one row per enabled endpoint that has a pending message. Params: none.
SELECT
    o.endpoint_id,
    o.webhook_id,
    o.event_id,
    o.seq,
    o.attempts,
    epoch_ns(o.next_attempt_at) AS next_attempt_ns,
    e.url,
    ev.body
FROM webhook_outbox AS o
JOIN webhook_endpoints AS e ON e.endpoint_id = o.endpoint_id
JOIN webhook_events AS ev ON ev.event_id = o.event_id
WHERE o.state = 'pending' AND e.enabled
QUALIFY row_number() OVER (PARTITION BY o.endpoint_id ORDER BY o.seq) = 1
ORDER BY o.endpoint_id;
