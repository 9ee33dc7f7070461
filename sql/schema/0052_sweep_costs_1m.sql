-- sweep_costs_1m: cost of sweeping each underlying's token liquidity (all books and pools)
-- for the Rule 605 notional buckets, consolidated and on the best single venue, against
-- the underlying's NBBO mid, sampled every sweep.sample_s (default 60 s) at epoch-aligned
-- instants (docs/metrics.md "Sweep costs"; metrics.md 1.2, 4.1; divergence.metrics.sweep).
-- Grain: one row per (ts_event, underlying, side, notional_usd) for each sample at which
-- the underlying had a known book or a live pool. Written by the depth job (live and
-- backfill); rows are replaced by ts_event range.
--   side                       'buy' (pays notional_usd, fees included) or 'sell'
--                              (receives notional_usd net)
--   fill_consolidated_usd      notional_usd / shares filled, all venues (USD per share);
--                              NULL when not fillable
--   fill_best_venue_usd        the best single venue's fill (best_venue); NULL when no
--                              single venue can fill
--   ref_mid_usd                NBBO mid in force (open session, fresh), else NULL
--   cost_of_fragmentation_bps  D x (best venue - consolidated) / consolidated x 1e4, >= 0
--   token_vs_stock_gap_bps     D x (consolidated - ref mid) / ref mid x 1e4
CREATE TABLE sweep_costs_1m (
    ts_event                  TIMESTAMP_NS NOT NULL,
    underlying                VARCHAR NOT NULL,
    side                      VARCHAR NOT NULL,
    notional_usd              DOUBLE NOT NULL,
    fillable                  BOOLEAN NOT NULL,
    fill_consolidated_usd     DOUBLE,
    fill_best_venue_usd       DOUBLE,
    best_venue                VARCHAR,
    ref_mid_usd               DOUBLE,
    cost_of_fragmentation_bps DOUBLE,
    token_vs_stock_gap_bps    DOUBLE
);
