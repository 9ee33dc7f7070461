-- basis_1s_insert: recompute basis_1s from basis for whole seconds (after basis_1s_delete
-- of the same seconds, in the same transaction as the basis write).
-- Grain: one row per (underlying, venue, second) with basis rows, second in [$lo, $hi) and,
-- unless $underlyings is NULL, (underlying, second) among ($underlyings[i], $seconds[i]).
-- Ties go to the earliest ts_event, as in chart_price / chart_basis / chart_underlying_exec_basis.
-- Params: $lo, $hi BIGINT epoch ns (whole seconds, $hi exclusive); $underlyings VARCHAR[]
-- or NULL (every underlying); $seconds BIGINT[] (epoch ns of whole seconds) or NULL.
WITH points AS (
    SELECT underlying, venue, epoch_ns(ts_event) AS ts_ns,
           epoch_ns(ts_event) - epoch_ns(ts_event) % 1000000000 AS second,
           mid_usd / multiplier AS px, ref_mid AS ref, basis_bps, exec_basis_bps
    FROM basis
    WHERE ts_event >= make_timestamp_ns($lo)
      AND ts_event < make_timestamp_ns($hi)
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
WHERE $underlyings IS NULL
   OR (underlying, second) IN (SELECT unnest($underlyings), unnest($seconds))
GROUP BY underlying, venue, second
ORDER BY second, underlying, venue;  -- time order: zone maps on second prune the chart reads
