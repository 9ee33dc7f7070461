-- chart_basis: mid basis in bps per venue, downsampled on the server: the min and the max
-- point of every time bucket. Rows with no basis (stale or missing reference) are left out.
-- Ties go to the earliest point, so the same parameters always give the same rows.
-- Grain: one row per (series, bucket, extreme); series is a venue id.
-- Params: $underlying; $venue (NULL: every venue); $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns), value (bps).
WITH points AS (
    SELECT venue AS series, epoch_ns(ts_event) AS ts_ns, basis_bps AS value
    FROM basis
    WHERE underlying = $underlying
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
      AND basis_bps IS NOT NULL
      AND ($venue IS NULL OR venue = $venue)
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
