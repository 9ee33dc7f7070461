-- stress_episodes: market-wide stress episodes, many underlyings' tokens leaving their own
-- basis baselines at once (docs/metrics.md "Stress episodes"; divergence.metrics.stress),
-- from the basis table (basis signal only: no spread or depth input yet).
-- Grain: one row per closed episode, at closed_at (an episode still open is not written).
-- Written by the metrics job once the watermark passed closed_at + 1 s (live at most every
-- 60 s) and in backfill; replaced by closed_at range.
--   episode_start .. episode_end  the first hot stretch's start to the end of the last hot
--                                 1-s bucket; confirmed_at when it opened (30 s hot)
--   symbols, n_symbols            underlyings stressed at some bucket of the episode
--   peak_*                        the bucket with most stressed underlyings (peak_ts)
--   market_closed                 session closed or halted at the start (no stock trading)
--   start_clipped                 longer than 2 h: reported from closed_at - 2 h
CREATE TABLE stress_episodes (
    episode_start             TIMESTAMP_NS NOT NULL,
    confirmed_at              TIMESTAMP_NS NOT NULL,
    peak_ts                   TIMESTAMP_NS,
    episode_end               TIMESTAMP_NS,
    closed_at                 TIMESTAMP_NS NOT NULL,
    duration_s                DOUBLE,
    symbols                   VARCHAR[],
    n_symbols                 BIGINT,
    peak_stressed             BIGINT,
    peak_active               BIGINT,
    peak_median_abs_basis_bps DOUBLE,
    max_abs_z                 DOUBLE,
    max_spread_ratio          DOUBLE,
    min_depth_ratio           DOUBLE,
    session                   VARCHAR,
    market_closed             BOOLEAN,
    start_clipped             BOOLEAN
);
