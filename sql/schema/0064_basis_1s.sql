-- basis_1s: one-second min/max rollup of basis for the dashboards' charts (docs/dashboards.md
-- "Downsampling"). For each charted measure it keeps the lowest and the highest point of the
-- second with its exact ts_event, ties to the earliest, as the chart queries break them, so
-- a chart bucket of whole seconds gets the same min/max points from here as from basis.
-- Grain: one row per (underlying, venue, second) with at least one basis row; second is the
-- epoch ns of [second, second + 1 s). Written with basis, in the same transaction: the
-- basis job and its backfill delete and recompute every second they touch
-- (sql/queries/basis_1s_delete.sql, basis_1s_insert.sql). The migration rolls up the basis
-- rows already stored (the same statement as basis_1s_insert.sql, over every second).
--   n                    basis rows of the second (the chart queries check it against basis)
--   px_*                 mid_usd / multiplier (USD per share), rows with mid_usd
--   ref_*                ref_mid, rows with ref_mid
--   basis_*              basis_bps, rows with basis_bps
--   exec_*               exec_basis_bps, rows with exec_basis_bps
--   *_lo / *_lo_ns       the lowest value and its ts_event (epoch ns), the earliest on ties
--   *_hi / *_hi_ns       the highest value and its ts_event, the earliest on ties
CREATE TABLE basis_1s (
    underlying    VARCHAR NOT NULL,
    venue         VARCHAR NOT NULL,
    second        BIGINT NOT NULL,
    n             BIGINT NOT NULL,
    px_lo_ns      BIGINT,
    px_lo         DOUBLE,
    px_hi_ns      BIGINT,
    px_hi         DOUBLE,
    ref_lo_ns     BIGINT,
    ref_lo        DOUBLE,
    ref_hi_ns     BIGINT,
    ref_hi        DOUBLE,
    basis_lo_ns   BIGINT,
    basis_lo      DOUBLE,
    basis_hi_ns   BIGINT,
    basis_hi      DOUBLE,
    exec_lo_ns    BIGINT,
    exec_lo       DOUBLE,
    exec_hi_ns    BIGINT,
    exec_hi       DOUBLE
);

WITH points AS (
    SELECT underlying, venue, epoch_ns(ts_event) AS ts_ns,
           epoch_ns(ts_event) - epoch_ns(ts_event) % 1000000000 AS second,
           mid_usd / multiplier AS px, ref_mid AS ref, basis_bps, exec_basis_bps
    FROM basis
)
INSERT INTO basis_1s
SELECT underlying, venue, second, count(*) AS n,
       arg_min(ts_ns, (px, ts_ns)) FILTER (px IS NOT NULL),
       min(px),
       arg_max(ts_ns, (px, -ts_ns)) FILTER (px IS NOT NULL),
       max(px),
       arg_min(ts_ns, (ref, ts_ns)) FILTER (ref IS NOT NULL),
       min(ref),
       arg_max(ts_ns, (ref, -ts_ns)) FILTER (ref IS NOT NULL),
       max(ref),
       arg_min(ts_ns, (basis_bps, ts_ns)) FILTER (basis_bps IS NOT NULL),
       min(basis_bps),
       arg_max(ts_ns, (basis_bps, -ts_ns)) FILTER (basis_bps IS NOT NULL),
       max(basis_bps),
       arg_min(ts_ns, (exec_basis_bps, ts_ns)) FILTER (exec_basis_bps IS NOT NULL),
       min(exec_basis_bps),
       arg_max(ts_ns, (exec_basis_bps, -ts_ns)) FILTER (exec_basis_bps IS NOT NULL),
       max(exec_basis_bps)
FROM points
GROUP BY underlying, venue, second
ORDER BY second, underlying, venue;  -- time order: zone maps on second prune the chart reads
