-- fragmentation_1m: how fragmented each underlying's token market was over each
-- one minute (docs/metrics.md, divergence.metrics.fragmentation, metrics.md 3.1-3.2).
-- Grain: one row per (underlying, bucket_start), epoch-aligned buckets [b, b + 1m) in
-- which a quote was in force or a trade printed. Written by the metrics job once the
-- bucket is complete; rows are replaced by bucket_start range.
--   volume_usd, depth_usd         total USD volume; time-weighted top-of-book notional
--   hhi_*, ffi_* (1/HHI), frag_*  concentration across venues, by volume and by depth
--   ref_mid_usd                   the underlying's NBBO mid at bucket end (NULL if stale)
--   mid_range_bps, mid_dispersion_bps   venue mids at bucket end, in bps of ref_mid_usd
--   locked_* / crossed_* / crossed_net_*  time (ns, fraction of the bucket) the
--                                 consolidated book was locked, crossed, crossed net of
--                                 taker fees; amounts in bps of ref_mid_usd
CREATE TABLE fragmentation_1m (
    underlying          VARCHAR NOT NULL,
    bucket_start        TIMESTAMP_NS NOT NULL,
    active_venues       INTEGER NOT NULL,
    volume_usd          DOUBLE NOT NULL,
    hhi_volume          DOUBLE,
    ffi_volume          DOUBLE,
    frag_volume         DOUBLE,
    depth_usd           DOUBLE NOT NULL,
    hhi_depth           DOUBLE,
    ffi_depth           DOUBLE,
    frag_depth          DOUBLE,
    ref_mid_usd         DOUBLE,
    mid_range_bps       DOUBLE,
    mid_dispersion_bps  DOUBLE,
    locked_ns           BIGINT NOT NULL,
    locked_frac         DOUBLE NOT NULL,
    crossed_ns          BIGINT NOT NULL,
    crossed_frac        DOUBLE NOT NULL,
    crossed_bps_max     DOUBLE,
    crossed_bps_avg     DOUBLE,
    crossed_net_ns      BIGINT NOT NULL,
    crossed_net_frac    DOUBLE NOT NULL,
    crossed_net_bps_max DOUBLE,
    crossed_net_bps_avg DOUBLE
);
