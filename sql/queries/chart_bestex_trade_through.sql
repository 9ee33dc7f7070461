-- chart_bestex_trade_through: trade-through rate per venue and for all venues, per time
-- bucket of $bucket_ns (trade_throughs, Rule 611 style with the 1 s flicker exemption,
-- metrics.md 4.3):
--   value = 100 x (trades with traded_through) / (trades evaluated: traded_through NOT NULL)
-- A rate per bucket, not min/max. Buckets without an evaluated trade have no point.
-- Grain: one row per (series, bucket with evaluated trades); series is a venue id or
-- 'all venues'.
-- Params: $underlying; $venue (NULL = every venue); $start, $end epoch ns (end
-- exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns of the bucket start), value (% of evaluated trades).
WITH evaluated AS (
    SELECT venue, (epoch_ns(ts_event) - $start) // $bucket_ns AS bucket, traded_through
    FROM trade_throughs
    WHERE underlying = $underlying
      AND ($venue IS NULL OR venue = $venue)
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
      AND traded_through IS NOT NULL
),
rates AS (
    SELECT venue AS series, bucket,
           100.0 * count(*) FILTER (WHERE traded_through) / count(*) AS value
    FROM evaluated GROUP BY venue, bucket
    UNION ALL
    SELECT 'all venues' AS series, bucket,
           100.0 * count(*) FILTER (WHERE traded_through) / count(*) AS value
    FROM evaluated GROUP BY bucket
)
SELECT series, $start + bucket * $bucket_ns AS ts_ns, value
FROM rates
ORDER BY series, ts_ns;
