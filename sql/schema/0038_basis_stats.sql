-- basis_stats: rolling statistics of each listing's basis (docs/metrics.md "Basis
-- statistics"; divergence.metrics.basis_stats), on the usable basis rows (ref_state live
-- or closed, basis_bps not NULL).
-- Grain: one row per usable basis row (ts_event, source_seq, instrument_id). Written by
-- the metrics job, live and in backfill; replaced by ts_event range.
--   window_obs, mean_bps, std_bps, z  the 30-min window of the same reference run; z NULL
--                                     under 30 observations or with std 0
--   ewma_bps                          time EWMA, half-life 60 s, 30-min window
--   beyond_X_s                        seconds |basis| has been above X bps (0 within);
--   beyond_X_capped                   the run began over 30 min ago (a lower bound)
CREATE TABLE basis_stats (
    ts_event         TIMESTAMP_NS NOT NULL,
    instrument_id    VARCHAR NOT NULL,
    venue            VARCHAR NOT NULL,
    underlying       VARCHAR NOT NULL,
    session          VARCHAR,
    ref_state        VARCHAR,
    ref_kind         VARCHAR,
    source_seq       BIGINT NOT NULL,
    basis_bps        DOUBLE,
    window_obs       BIGINT,
    mean_bps         DOUBLE,
    std_bps          DOUBLE,
    z                DOUBLE,
    ewma_bps         DOUBLE,
    beyond_25_s      DOUBLE,
    beyond_25_capped BOOLEAN,
    beyond_50_s      DOUBLE,
    beyond_50_capped BOOLEAN,
    beyond_100_s      DOUBLE,
    beyond_100_capped BOOLEAN,
    beyond_200_s      DOUBLE,
    beyond_200_capped BOOLEAN
);
