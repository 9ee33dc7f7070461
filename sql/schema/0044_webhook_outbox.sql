-- webhook_outbox: the durable delivery queue. Grain: one row per (endpoint, event).
-- state: pending (to send; attempted when next_attempt_at has passed and every earlier
-- row of the endpoint is no longer pending), delivered (a 2xx answer), failed (every
-- attempt of the retry schedule failed), skipped (the endpoint was disabled when the
-- event was enqueued), cancelled (the endpoint was deleted). attempts counts attempts
-- since the row was last (re)queued; last_status and last_error describe the latest.
CREATE TABLE webhook_outbox (
    endpoint_id     VARCHAR NOT NULL,
    webhook_id      VARCHAR NOT NULL,
    event_id        VARCHAR NOT NULL,
    seq             BIGINT NOT NULL DEFAULT nextval('webhook_outbox_seq'),
    state           VARCHAR NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP_NS NOT NULL,
    last_status     INTEGER,
    last_error      VARCHAR,
    created_at      TIMESTAMP_NS NOT NULL,
    updated_at      TIMESTAMP_NS NOT NULL,
    PRIMARY KEY (endpoint_id, webhook_id)
);
