-- session_states: the underlying's market session from ts_event on.
-- Grain: one row per session announcement (transitions, and a snapshot on connect).
-- session is one of pre, regular, post, overnight, closed, halted.
CREATE TABLE session_states (
    ts_event   TIMESTAMP_NS NOT NULL,
    ts_recv    TIMESTAMP_NS NOT NULL,
    ts_ingest  TIMESTAMP_NS NOT NULL,
    venue      VARCHAR NOT NULL,
    underlying VARCHAR NOT NULL,
    session    VARCHAR NOT NULL,
    ingest_seq BIGINT NOT NULL
);
