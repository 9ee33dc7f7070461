-- webhook_attempts: the delivery log, append-only. Grain: one row per HTTP attempt.
-- status is the HTTP status (NULL when no answer: refused URL, connection error,
-- timeout), latency_ms the time from sending to the answer (or the error), error what
-- went wrong (NULL on success). outcome: delivered, retry (another attempt is
-- scheduled), failed (the schedule is exhausted). disabled is true when this attempt
-- disabled the endpoint (HTTP 410, or the consecutive-failure limit).
CREATE TABLE webhook_attempts (
    attempt_id  BIGINT NOT NULL DEFAULT nextval('webhook_attempt_seq'),
    endpoint_id VARCHAR NOT NULL,
    webhook_id  VARCHAR NOT NULL,
    event_id    VARCHAR NOT NULL,
    attempt     INTEGER NOT NULL,
    ts          TIMESTAMP_NS NOT NULL,
    url         VARCHAR NOT NULL,
    status      INTEGER,
    latency_ms  DOUBLE NOT NULL,
    error       VARCHAR,
    outcome     VARCHAR NOT NULL,
    disabled    BOOLEAN NOT NULL
);
