-- chart_fragmentation_hhi: concentration of the underlying's token market across venues,
-- HHI = sum of s_i^2 over the venues' shares s_i (fragmentation_*.hhi_volume: shares of
-- USD traded volume; hhi_depth: shares of time-weighted top-of-book notional). 1 = one
-- venue, 1/N = N equal venues.
-- Source: fragmentation_1m when $bucket_ns >= 60 s, else fragmentation_1s; a row's time
-- is its bucket_start. Downsampled on the server: the min and the max point of every time
-- bucket of $bucket_ns. Rows with a NULL value (no volume / depth / reference) are left
-- out: a gap.
-- Grain: one row per (series, bucket, extreme); series is 'by volume' or 'by depth'.
-- Params: $underlying; $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns), value (ratio).
WITH frag AS (
    SELECT bucket_start, hhi_volume AS a, hhi_depth AS b
    FROM fragmentation_1m
    WHERE $bucket_ns >= 60000000000
      AND underlying = $underlying
      AND bucket_start >= make_timestamp_ns($start)
      AND bucket_start < make_timestamp_ns($end)
    UNION ALL
    SELECT bucket_start, hhi_volume AS a, hhi_depth AS b
    FROM fragmentation_1s
    WHERE $bucket_ns < 60000000000
      AND underlying = $underlying
      AND bucket_start >= make_timestamp_ns($start)
      AND bucket_start < make_timestamp_ns($end)
),
points AS (
    SELECT 'by volume' AS series, epoch_ns(bucket_start) AS ts_ns, a AS value
    FROM frag WHERE a IS NOT NULL
    UNION ALL
    SELECT 'by depth' AS series, epoch_ns(bucket_start) AS ts_ns, b AS value
    FROM frag WHERE b IS NOT NULL
),
buckets AS (
    SELECT series,
           (ts_ns - $start) // $bucket_ns AS bucket,
           arg_min(ts_ns, (value, ts_ns)) AS ts_lo, min(value) AS v_lo,
           arg_max(ts_ns, (value, -ts_ns)) AS ts_hi, max(value) AS v_hi
    FROM points
    GROUP BY series, bucket
)
SELECT series, ts_lo AS ts_ns, v_lo AS value FROM buckets
UNION
SELECT series, ts_hi AS ts_ns, v_hi AS value FROM buckets
ORDER BY series, ts_ns, value;
