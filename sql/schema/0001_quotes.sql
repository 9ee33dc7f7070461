-- quotes: best bid and offer, for token listings and reference instruments alike.
-- Grain: one row per quote event. Prices in the venue's quote currency, exact decimals.
-- ingest_seq is a store-wide counter, increasing with every write (jobs use it to find
-- late arrivals).
CREATE TABLE quotes (
    ts_event      TIMESTAMP_NS NOT NULL,
    ts_recv       TIMESTAMP_NS NOT NULL,
    ts_ingest     TIMESTAMP_NS NOT NULL,
    venue         VARCHAR NOT NULL,
    instrument_id VARCHAR NOT NULL,
    symbol        VARCHAR NOT NULL,
    bid_px        DECIMAL(38, 18) NOT NULL,
    bid_sz        DECIMAL(38, 18) NOT NULL,
    ask_px        DECIMAL(38, 18) NOT NULL,
    ask_sz        DECIMAL(38, 18) NOT NULL,
    ingest_seq    BIGINT NOT NULL
);
