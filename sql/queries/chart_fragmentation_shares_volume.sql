-- chart_fragmentation_shares_volume: each venue's share of the underlying's token USD
-- volume per time bucket of $bucket_ns, for a stacked area:
--   share_i = sum of the venue's trade notional_usd / sum over all venues   (in %)
-- from trade_throughs.notional_usd (every token trade in USD, the same V_i as the HHI by
-- volume). A volume-weighted share per bucket, not min/max (shares add up to 100 %).
-- Every venue that traded in the window has a point (0 when it did not trade) in every
-- bucket with volume; buckets with no volume have no points.
-- Grain: one row per (series, bucket with volume); series is a venue id.
-- Params: $underlying; $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns of the bucket start), value (% of the bucket's volume).
WITH trades_in AS (
    SELECT venue, (epoch_ns(ts_event) - $start) // $bucket_ns AS bucket, notional_usd
    FROM trade_throughs
    WHERE underlying = $underlying
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
      AND notional_usd > 0 AND isfinite(notional_usd)
),
per_venue AS (
    SELECT venue, bucket, sum(notional_usd) AS volume FROM trades_in GROUP BY venue, bucket
),
totals AS (
    SELECT bucket, sum(volume) AS total FROM per_venue GROUP BY bucket
),
venues AS (
    SELECT DISTINCT venue FROM per_venue
)
SELECT v.venue AS series, $start + t.bucket * $bucket_ns AS ts_ns,
       100.0 * coalesce(p.volume, 0) / t.total AS value
FROM totals AS t
CROSS JOIN venues AS v
LEFT JOIN per_venue AS p ON p.venue = v.venue AND p.bucket = t.bucket
ORDER BY series, ts_ns;
