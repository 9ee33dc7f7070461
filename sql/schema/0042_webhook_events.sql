-- webhook_events: every event handed to the webhook outbox, with the exact body sent.
-- Grain: one row per event_id (enqueue is idempotent: a known event_id is ignored).
-- webhook_id = 'msg_' + sha256(event_id)[:32], the webhook-id header of every delivery of
-- this event to any endpoint, retries and replays included. created_at is the enqueue
-- time (replay ranges select on it); occurred_at is the payload's timestamp.
CREATE TABLE webhook_events (
    event_id    VARCHAR PRIMARY KEY,
    webhook_id  VARCHAR NOT NULL,
    event_type  VARCHAR NOT NULL,
    occurred_at TIMESTAMP_NS NOT NULL,
    created_at  TIMESTAMP_NS NOT NULL,
    labels      VARCHAR NOT NULL,
    body        VARCHAR NOT NULL
);
