-- webhook_outbox_list: an endpoint's queued and past messages, newest first, one page.
-- Grain: one row per (endpoint, event). Params: $endpoint_id VARCHAR; $state VARCHAR (''
-- for all); $before_seq BIGINT (keyset cursor: rows with seq < $before_seq); $limit BIGINT.
SELECT
    o.seq,
    o.webhook_id,
    o.event_id,
    ev.event_type,
    o.state,
    o.attempts,
    epoch_ns(o.next_attempt_at) AS next_attempt_ns,
    o.last_status,
    o.last_error,
    epoch_ns(o.created_at) AS created_at_ns,
    epoch_ns(o.updated_at) AS updated_at_ns
FROM webhook_outbox AS o
JOIN webhook_events AS ev ON ev.event_id = o.event_id
WHERE o.endpoint_id = $endpoint_id
    AND ($state = '' OR o.state = $state)
    AND o.seq < $before_seq
ORDER BY o.seq DESC
LIMIT $limit;
