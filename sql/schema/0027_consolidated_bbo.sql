-- consolidated_bbo: the consolidated token BBO per underlying across every token venue and
-- pool, in USD per underlying share (docs/metrics.md, divergence.metrics.consolidated).
-- Grain: one row per (underlying, ts_event) change instant: a quote coming into force or
-- expiring (quote_max_age 60 s). venues = 0 with NULL prices when no quote is in force.
-- Written by the metrics job, live and in backfill, with the same windowed recompute
-- (divergence.metrics.windowed): rows are replaced by ts_event range.
--   best_bid_usd, best_ask_usd        BB = max bid, BA = min ask, USD per share
--   best_bid_shares, best_ask_shares  total size displayed at that price (pools: none)
--   best_bid_venue, best_ask_venue    the venue that reached the price first
CREATE TABLE consolidated_bbo (
    ts_event        TIMESTAMP_NS NOT NULL,
    underlying      VARCHAR NOT NULL,
    best_bid_usd    DOUBLE,
    best_bid_shares DOUBLE,
    best_bid_venue  VARCHAR,
    best_ask_usd    DOUBLE,
    best_ask_shares DOUBLE,
    best_ask_venue  VARCHAR,
    venues          INTEGER NOT NULL
);
