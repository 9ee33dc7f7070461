-- feed_events: feed health as data. Every connect, disconnect, sequence gap, checksum
-- mismatch, book invalidation and resync, stale and fresh stream, silent socket,
-- quarantined frame, duplicate, reorg, backfill and backpressure wait of every feed.
-- Grain: one row per event. stream is '<channel>:<venue symbol>' (book:AAPLx/USD) or ''
-- for the connection. ts is local time (ns UTC). value is the number the event implies:
-- outage seconds (connect), missing sequence numbers (gap), stale seconds (stale, fresh),
-- invalid seconds (resync), seconds waited (backpressure), count (duplicate, backfill).
CREATE TABLE feed_events (
    ts         TIMESTAMP_NS NOT NULL,
    ts_ingest  TIMESTAMP_NS NOT NULL,
    venue      VARCHAR NOT NULL,
    stream     VARCHAR NOT NULL,
    event      VARCHAR NOT NULL,
    detail     VARCHAR NOT NULL,
    value      DOUBLE NOT NULL,
    ingest_seq BIGINT NOT NULL
);
