-- fx_composite: every stablecoin rate observation next to the median of all sources at
-- that instant, written by the basis job (live, exactly once) and by backfills.
--   median_usd         median of the latest fresh rate of every source of the currency
--   sources            how many sources were fresh (within basis.fx_max_staleness_ms)
--   deviation_bps      (rate_usd / median_usd - 1) * 1e4 of this observation
--   venue_local_depeg  |deviation_bps| > basis.venue_depeg_bps (one venue's misprint)
--   stablecoin_depeg   |median_usd - 1| * 1e4 > basis.depeg_bps (the coin itself)
-- Grain: one row per fx_rates row (source_seq is its ingest_seq).
CREATE TABLE fx_composite (
    ts_event          TIMESTAMP_NS NOT NULL,
    venue             VARCHAR NOT NULL,
    currency          VARCHAR NOT NULL,
    rate_usd          DOUBLE NOT NULL,
    median_usd        DOUBLE NOT NULL,
    sources           INTEGER NOT NULL,
    deviation_bps     DOUBLE NOT NULL,
    venue_local_depeg BOOLEAN NOT NULL,
    stablecoin_depeg  BOOLEAN NOT NULL,
    source_seq        BIGINT NOT NULL,
    ts_ingest         TIMESTAMP_NS NOT NULL
);
