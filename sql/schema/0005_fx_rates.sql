-- fx_rates: USD per unit of a stablecoin, as published by an fx venue.
-- Grain: one row per rate observation.
CREATE TABLE fx_rates (
    ts_event   TIMESTAMP_NS NOT NULL,
    ts_recv    TIMESTAMP_NS NOT NULL,
    ts_ingest  TIMESTAMP_NS NOT NULL,
    venue      VARCHAR NOT NULL,
    currency   VARCHAR NOT NULL,
    rate_usd   DECIMAL(38, 18) NOT NULL,
    ingest_seq BIGINT NOT NULL
);
