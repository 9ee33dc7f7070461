-- pool_states: DEX pool state after each update (reserves, or price and liquidity).
-- Grain: one row per pool update. price is quote currency per base unit, raw pool units.
CREATE TABLE pool_states (
    ts_event      TIMESTAMP_NS NOT NULL,
    ts_recv       TIMESTAMP_NS NOT NULL,
    ts_ingest     TIMESTAMP_NS NOT NULL,
    venue         VARCHAR NOT NULL,
    instrument_id VARCHAR NOT NULL,
    symbol        VARCHAR NOT NULL,
    pool          VARCHAR NOT NULL,
    reserve_base  DECIMAL(38, 18),
    reserve_quote DECIMAL(38, 18),
    price         DECIMAL(38, 18) NOT NULL,
    liquidity     DECIMAL(38, 18),
    fee_bps       DECIMAL(38, 18) NOT NULL,
    ingest_seq    BIGINT NOT NULL
);
