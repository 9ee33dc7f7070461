-- book_levels: order-book snapshots and deltas, one row per price level.
-- Grain: one row per (book update, side, price). size = 0 deletes the level in a delta.
CREATE TABLE book_levels (
    ts_event      TIMESTAMP_NS NOT NULL,
    ts_recv       TIMESTAMP_NS NOT NULL,
    ts_ingest     TIMESTAMP_NS NOT NULL,
    venue         VARCHAR NOT NULL,
    instrument_id VARCHAR NOT NULL,
    symbol        VARCHAR NOT NULL,
    is_snapshot   BOOLEAN NOT NULL,
    sequence      BIGINT NOT NULL,
    side          VARCHAR NOT NULL,
    price         DECIMAL(38, 18) NOT NULL,
    size          DECIMAL(38, 18) NOT NULL,
    ingest_seq    BIGINT NOT NULL
);
