-- chart_fragmentation_depth: USD depth within X bps of mid per venue, for X in the depth
-- grid (10, 25, 50, 100, 200 bps): book_depth_1s bid_depth_usd + ask_depth_usd (both
-- sides, displayed prices, no fee), summed over the venue's books and pools at each
-- sample. Downsampled on the server: the min and the max point of every time bucket.
-- Grain: one row per (series, bucket, extreme); series is '<venue> ±<X> bps'.
-- Params: $underlying; $venue (NULL = every venue); $start, $end epoch ns (end
-- exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns), value (USD).
WITH points AS (
    SELECT venue || ' ±' || bps || ' bps' AS series, epoch_ns(ts_event) AS ts_ns,
           sum(coalesce(bid_depth_usd, 0) + coalesce(ask_depth_usd, 0)) AS value
    FROM book_depth_1s
    WHERE underlying = $underlying
      AND ($venue IS NULL OR venue = $venue)
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
    GROUP BY venue, bps, ts_event
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
