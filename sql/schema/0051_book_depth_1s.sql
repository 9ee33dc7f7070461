-- book_depth_1s: USD depth within X bps of every token book's mid and every token pool's
-- curve price, sampled every depth.sample_s (default 1 s) at epoch-aligned instants
-- (docs/metrics.md "Depth and sweeps"; metrics.md 3.2, 3.3; divergence.jobs.depth_job).
-- Grain: one row per (ts_event, venue, instrument_id, bps) for each book known at
-- ts_event (replayed from book_levels) and each pool with a state at most
-- depth.pool_max_age_s old; X in the depth grid (10, 25, 50, 100, 200 bps, metrics.md 9).
-- Written by the depth job (live and backfill); rows are replaced by ts_event range.
--   source_kind                'book' (order book) or 'pool' (AMM)
--   pool_kind                  'constant_product' or 'concentrated' for pools, NULL for books
--   mid_usd                    the book's mid, or the pool's curve price (USD per share);
--                              NULL (with depths and flags) for a one-sided book
--   bid_/ask_depth_usd         USD notional inside the band, at displayed prices, no fee
--   bid_/ask_depth_with_fee_usd  pools only: the LP fee on the input added (NULL for books)
--   bid_/ask_complete          false when the visible book / known pool range ends inside
--                              the band (the depth is then a lower bound)
CREATE TABLE book_depth_1s (
    ts_event               TIMESTAMP_NS NOT NULL,
    underlying             VARCHAR NOT NULL,
    venue                  VARCHAR NOT NULL,
    instrument_id          VARCHAR NOT NULL,
    source_kind            VARCHAR NOT NULL,
    pool_kind              VARCHAR,
    bps                    INTEGER NOT NULL,
    mid_usd                DOUBLE,
    bid_depth_usd          DOUBLE,
    ask_depth_usd          DOUBLE,
    bid_depth_with_fee_usd DOUBLE,
    ask_depth_with_fee_usd DOUBLE,
    bid_complete           BOOLEAN,
    ask_complete           BOOLEAN
);
