-- luld_events: what an equity venue would have done against the token's shadow LULD
-- bands, and the off-hours +-20 % band (metrics.md 5.4, 5.5;
-- divergence.metrics.luld_events).
-- Grain: one row per event (underlying, ts_start, event, venue, trade_id):
--   band_breach        a trade strictly outside the band in force (ts_end = ts_start)
--   limit_state_equiv  consolidated best ask <= lower band (side lower) or best bid >=
--                      upper band (upper), at most 15 s (ts_end NULL: never, all are final)
--   pause_equiv        a limit state that lasted 15 s: a 5-minute pause from then
--   off_hours_band     a trade off the regular session more than 20 % from the last
--                      regular-session reference mid (ref_price_usd); bands unrounded
-- Written by the metrics job once the watermark passed ts_start + 15 s (live at most every
-- 60 s) and in backfill; replaced by ts_start range. Prices in USD per underlying share;
-- price/venue of a limit state or pause: the quote at the band and its venue.
CREATE TABLE luld_events (
    event          VARCHAR NOT NULL,
    underlying     VARCHAR NOT NULL,
    ts_start       TIMESTAMP_NS NOT NULL,
    ts_end         TIMESTAMP_NS,
    side           VARCHAR,
    price_usd      DOUBLE,
    ref_price_usd  DOUBLE,
    lower_band_usd DOUBLE,
    upper_band_usd DOUBLE,
    session        VARCHAR,
    venue          VARCHAR,
    trade_id       VARCHAR
);
