-- luld_bands: the shadow LULD band state per underlying, at all hours (metrics.md 5.1;
-- divergence.metrics.luld.compute_luld_bands), on the token's USD trades of every venue.
-- Grain: one row per (underlying, ts_event) change of the band state, in force from
-- ts_event until the next row of the underlying. Kept: every row from the ET day's first
-- trade on (reference moves, session changes, doubling-window edges) and the reset at ET
-- midnight after a day with trades (bands NULL). Written by the metrics job, live (at most
-- every 60 s) and in backfill, with the same windowed recompute; replaced by ts_event range.
--   et_date          the band day (America/New_York date); state resets at its midnight
--   band_window      opening | closing | NULL (doubled: the width was doubled)
--   tier             the underlying's LULD tier (catalog, default 1)
--   prior_close_usd  the last regular-session reference mid of the trading day before
--   ref_price_usd    the band reference (5-min trade mean, 1 % update rule), USD per share
--   lower_band_usd, upper_band_usd  whole cents; NULL without a tier or prior close
CREATE TABLE luld_bands (
    ts_event        TIMESTAMP_NS NOT NULL,
    underlying      VARCHAR NOT NULL,
    et_date         DATE NOT NULL,
    session         VARCHAR,
    band_window     VARCHAR,
    tier            INTEGER,
    prior_close_usd DOUBLE,
    ref_price_usd   DOUBLE,
    doubled         BOOLEAN,
    lower_band_usd  DOUBLE,
    upper_band_usd  DOUBLE
);
