-- venue_clock: the latest venue time seen from each venue (quotes, trades, heartbeats).
-- Grain: one row per venue, replaced on every writer flush. Jobs read it as a watermark:
-- everything a venue sent up to ts_event_max has been written.
CREATE TABLE venue_clock (
    venue        VARCHAR PRIMARY KEY,
    ts_event_max TIMESTAMP_NS NOT NULL,
    ts_recv_max  TIMESTAMP_NS NOT NULL,
    ingest_seq   BIGINT NOT NULL
);
