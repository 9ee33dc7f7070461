-- chart_fragmentation_shares_depth: each venue's share of the USD depth within 50 bps of
-- mid (book_depth_1s, bps = 50, bid_depth_usd + ask_depth_usd summed over the venue's
-- books and pools at each sample), averaged over the samples of each time bucket of
-- $bucket_ns, for a stacked area:
--   share_i = sum over the bucket's samples of the venue's depth / the same over all
--             venues, in % (a venue without a row at a sample counts 0 there)
-- A mean per bucket, not min/max (shares add up to 100 %). Every venue with depth in the
-- window has a point (0 without) in every bucket with depth.
-- Grain: one row per (series, bucket with depth); series is a venue id.
-- Params: $underlying; $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns of the bucket start), value (% of the bucket's depth).
WITH samples AS (
    SELECT venue, ts_event,
           sum(coalesce(bid_depth_usd, 0) + coalesce(ask_depth_usd, 0)) AS depth
    FROM book_depth_1s
    WHERE underlying = $underlying
      AND bps = 50
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
    GROUP BY venue, ts_event
),
per_venue AS (
    SELECT venue, (epoch_ns(ts_event) - $start) // $bucket_ns AS bucket, sum(depth) AS depth
    FROM samples
    GROUP BY venue, bucket
),
totals AS (
    SELECT bucket, sum(depth) AS total FROM per_venue GROUP BY bucket HAVING sum(depth) > 0
),
venues AS (
    SELECT DISTINCT venue FROM per_venue
)
SELECT v.venue AS series, $start + t.bucket * $bucket_ns AS ts_ns,
       100.0 * coalesce(p.depth, 0) / t.total AS value
FROM totals AS t
CROSS JOIN venues AS v
LEFT JOIN per_venue AS p ON p.venue = v.venue AND p.bucket = t.bucket
ORDER BY series, ts_ns;
