-- chart_bestex_realized: realized spreads per venue over time, Rule 605 style
-- (execution_quality, metrics.md 4.1): RS_h = 2 D (P - M_{t+h}) / M x 1e4 at h = 15 s and
-- 1 min, share-weighted per time bucket of $bucket_ns:
--   value = sum(size_shares x realized_spread_<h>_bps) / sum(size_shares)
-- over the venue's trades in the bucket with that value (a mean per bucket, not min/max:
-- one trade's spread is noise, the bucket's weighted mean is the statistic).
-- Grain: one row per (series, bucket with trades); series is '<venue> 15s' or '<venue> 1m'.
-- Params: $underlying; $venue (NULL = every venue); $start, $end epoch ns (end
-- exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns of the bucket start), value (bps).
WITH trades_in AS (
    SELECT venue, (epoch_ns(ts_event) - $start) // $bucket_ns AS bucket, size_shares,
           realized_spread_15s_bps AS rs_15s, realized_spread_1m_bps AS rs_1m
    FROM execution_quality
    WHERE underlying = $underlying
      AND ($venue IS NULL OR venue = $venue)
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
      AND size_shares > 0
),
points AS (
    SELECT venue || ' 15s' AS series, bucket,
           sum(size_shares * rs_15s) / sum(size_shares) AS value
    FROM trades_in WHERE rs_15s IS NOT NULL GROUP BY venue, bucket
    UNION ALL
    SELECT venue || ' 1m' AS series, bucket,
           sum(size_shares * rs_1m) / sum(size_shares) AS value
    FROM trades_in WHERE rs_1m IS NOT NULL GROUP BY venue, bucket
)
SELECT series, $start + bucket * $bucket_ns AS ts_ns, value
FROM points
ORDER BY series, ts_ns;
