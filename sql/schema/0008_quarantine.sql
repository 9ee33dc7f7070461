-- quarantine: frames and events that were rejected, with the reason and the raw text.
-- Grain: one row per rejected frame or event. Nothing rejected is ever silently dropped.
CREATE TABLE quarantine (
    ts_recv    TIMESTAMP_NS NOT NULL,
    ts_ingest  TIMESTAMP_NS NOT NULL,
    venue      VARCHAR NOT NULL,
    reason     VARCHAR NOT NULL,
    detail     VARCHAR NOT NULL,
    raw        VARCHAR NOT NULL,
    ingest_seq BIGINT NOT NULL
);
