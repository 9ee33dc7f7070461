-- chart_price: token mid per share in USD (mid_usd / multiplier) per venue, the
-- reference mid and the consolidated token BBO (consolidated_bbo, already per share),
-- downsampled on the server: the min and the max point of every time bucket.
-- Ties go to the earliest point, so the same parameters always give the same rows.
-- Grain: one row per (series, bucket, extreme); series is a venue id, 'reference', or
-- 'bbo_bid' / 'bbo_ask' (best bid / best ask over every token venue and pool; instants
-- with no quote in force have NULL prices and are left out: a gap).
-- Params: $underlying; $venue (NULL: every venue; the reference and the BBO always);
-- $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns), value (USD per share).
WITH rows_in AS (
    SELECT venue, epoch_ns(ts_event) AS ts_ns, mid_usd, multiplier, ref_mid
    FROM basis
    WHERE underlying = $underlying
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
),
bbo AS (
    SELECT epoch_ns(ts_event) AS ts_ns, best_bid_usd AS bid, best_ask_usd AS ask
    FROM consolidated_bbo
    WHERE underlying = $underlying
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
),
points AS (
    SELECT venue AS series, ts_ns, mid_usd / multiplier AS value
    FROM rows_in WHERE mid_usd IS NOT NULL AND ($venue IS NULL OR venue = $venue)
    UNION ALL
    SELECT 'reference' AS series, ts_ns, ref_mid AS value
    FROM rows_in WHERE ref_mid IS NOT NULL
    UNION ALL
    SELECT 'bbo_bid' AS series, ts_ns, bid AS value FROM bbo WHERE bid IS NOT NULL
    UNION ALL
    SELECT 'bbo_ask' AS series, ts_ns, ask AS value FROM bbo WHERE ask IS NOT NULL
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
