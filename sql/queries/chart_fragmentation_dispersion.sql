-- chart_fragmentation_dispersion: how far apart the venue mids are at bucket end, in bps
-- of the reference mid R: mid_range_bps = (max m_i - min m_i) / R x 1e4 and
-- mid_dispersion_bps = sqrt(sum w_i (m_i - mean_w)^2) / R x 1e4 with w_i the venues' volume
-- shares (fragmentation_*); NULL without a usable R (then a gap).
-- Source: fragmentation_1m when $bucket_ns >= 60 s, else fragmentation_1s; a row's time
-- is its bucket_start. Downsampled on the server: the min and the max point of every time
-- bucket of $bucket_ns. Rows with a NULL value (no volume / depth / reference) are left
-- out: a gap.
-- Grain: one row per (series, bucket, extreme); series is 'range' or 'dispersion'.
-- Params: $underlying; $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns), value (bps).
WITH frag AS (
    SELECT bucket_start, mid_range_bps AS a, mid_dispersion_bps AS b
    FROM fragmentation_1m
    WHERE $bucket_ns >= 60000000000
      AND underlying = $underlying
      AND bucket_start >= make_timestamp_ns($start)
      AND bucket_start < make_timestamp_ns($end)
    UNION ALL
    SELECT bucket_start, mid_range_bps AS a, mid_dispersion_bps AS b
    FROM fragmentation_1s
    WHERE $bucket_ns < 60000000000
      AND underlying = $underlying
      AND bucket_start >= make_timestamp_ns($start)
      AND bucket_start < make_timestamp_ns($end)
),
points AS (
    SELECT 'range' AS series, epoch_ns(bucket_start) AS ts_ns, a AS value
    FROM frag WHERE a IS NOT NULL
    UNION ALL
    SELECT 'dispersion' AS series, epoch_ns(bucket_start) AS ts_ns, b AS value
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
