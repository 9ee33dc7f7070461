-- stress_states: the market-wide stress state per 1-second bucket (docs/metrics.md "Stress
-- episodes", per bucket: hot and open; divergence.metrics.stress.compute_stress_states),
-- from the basis table (basis signal only). Input of the stress alert rules.
-- Grain: one row per bucket [bucket_start, bucket_start + 1 s) from the first basis row.
-- Written by the metrics job once the bucket is complete (live at most every 10 s) and in
-- backfill; replaced by bucket_start range.
--   active, stressed, needed  underlyings with a usable listing, stressed ones, and how
--                             many make the bucket hot (max(2, ceil(50 % of active)))
--   episode_open, window_start  an episode is open; start of its latest fully hot 30 s
--   stressed_symbols          the stressed underlyings; the other columns over them
CREATE TABLE stress_states (
    bucket_start         TIMESTAMP_NS NOT NULL,
    active               BIGINT,
    stressed             BIGINT,
    needed               BIGINT,
    hot                  BOOLEAN,
    episode_open         BOOLEAN,
    window_start         TIMESTAMP_NS,
    session              VARCHAR,
    stressed_symbols     VARCHAR[],
    median_abs_basis_bps DOUBLE,
    max_abs_z            DOUBLE,
    max_spread_ratio     DOUBLE,
    min_depth_ratio      DOUBLE
);
