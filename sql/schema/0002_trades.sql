-- trades: executions on token venues and reference markets.
-- Grain: one row per trade; side is the aggressor's (buy, sell or unknown).
CREATE TABLE trades (
    ts_event      TIMESTAMP_NS NOT NULL,
    ts_recv       TIMESTAMP_NS NOT NULL,
    ts_ingest     TIMESTAMP_NS NOT NULL,
    venue         VARCHAR NOT NULL,
    instrument_id VARCHAR NOT NULL,
    symbol        VARCHAR NOT NULL,
    price         DECIMAL(38, 18) NOT NULL,
    size          DECIMAL(38, 18) NOT NULL,
    side          VARCHAR NOT NULL,
    trade_id      VARCHAR NOT NULL,
    ingest_seq    BIGINT NOT NULL
);
