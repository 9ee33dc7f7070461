-- chart_fragmentation_locked: how much of the time the consolidated token book was locked
-- (BB = BA), crossed (BB > BA) and crossed net of taker fees (an actionable cross), per
-- time bucket of $bucket_ns, in % of the time the market had a row:
--   value = 100 x sum(locked_ns) / sum(row width)   (crossed_ns, crossed_net_ns alike)
-- over the fragmentation rows whose bucket_start falls in the bucket (fragmentation_1m, of
-- width 60 s, when $bucket_ns >= 60 s, else fragmentation_1s, of width 1 s). A mean per
-- bucket, not min/max: time fractions add up. Buckets without rows have no point.
-- Grain: one row per (series, bucket); series is 'locked', 'crossed' or 'crossed net'.
-- Params: $underlying; $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns of the bucket start), value (% of the time).
WITH frag AS (
    SELECT bucket_start, 60000000000 AS width_ns, locked_ns, crossed_ns, crossed_net_ns
    FROM fragmentation_1m
    WHERE $bucket_ns >= 60000000000
      AND underlying = $underlying
      AND bucket_start >= make_timestamp_ns($start)
      AND bucket_start < make_timestamp_ns($end)
    UNION ALL
    SELECT bucket_start, 1000000000 AS width_ns, locked_ns, crossed_ns, crossed_net_ns
    FROM fragmentation_1s
    WHERE $bucket_ns < 60000000000
      AND underlying = $underlying
      AND bucket_start >= make_timestamp_ns($start)
      AND bucket_start < make_timestamp_ns($end)
),
buckets AS (
    SELECT (epoch_ns(bucket_start) - $start) // $bucket_ns AS bucket,
           sum(width_ns) AS width_ns, sum(locked_ns) AS locked_ns,
           sum(crossed_ns) AS crossed_ns, sum(crossed_net_ns) AS crossed_net_ns
    FROM frag
    GROUP BY bucket
)
SELECT unnest(['locked', 'crossed', 'crossed net']) AS series,
       $start + bucket * $bucket_ns AS ts_ns,
       unnest([100.0 * locked_ns / width_ns, 100.0 * crossed_ns / width_ns,
               100.0 * crossed_net_ns / width_ns]) AS value
FROM buckets
ORDER BY series, ts_ns;
