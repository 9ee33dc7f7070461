-- chart_price_1s: chart_price read through the one-second rollup basis_1s: the same rows
-- as chart_price for the same parameters, point for point (tests/jobs/test_basis_rollup.py).
-- A second whose rows all fall in [$start, $end) and in one bucket (buckets of whole
-- seconds: $bucket_ns >= 1 s) brings its per-second min and max points from basis_1s;
-- every other second (the window's edges, a second a bucket boundary cuts) and every
-- second when basis_1s does not hold exactly the window's basis rows (its per-second
-- counts) come from basis, as in chart_price. The token BBO always comes from
-- consolidated_bbo.
-- Grain: one row per (series, bucket, extreme); series is a venue id, 'reference', or
-- 'bbo_bid' / 'bbo_ask'.
-- Params: $underlying; $venue (NULL: every venue; the reference and the BBO always);
-- $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns), value (USD per share).
WITH complete AS MATERIALIZED (
    -- basis_1s may stand in for basis: buckets of whole seconds, and basis_1s counts
    -- exactly the basis rows of the whole seconds inside [$start, $end)
    SELECT $bucket_ns >= 1000000000 AND (
        SELECT count(*) FROM basis
        WHERE underlying = $underlying
          AND ts_event >= make_timestamp_ns(($start + 999999999) // 1000000000 * 1000000000)
          AND ts_event < make_timestamp_ns($end // 1000000000 * 1000000000)
    ) = (
        SELECT coalesce(sum(n), 0) FROM basis_1s
        WHERE underlying = $underlying
          AND second >= ($start + 999999999) // 1000000000 * 1000000000
          AND second < $end // 1000000000 * 1000000000
    ) AS ok,
    $start % 1000000000 = 0 AND $bucket_ns % 1000000000 = 0 AS aligned
),
rolled AS (
    -- the seconds inside [$start, $end) and inside one bucket
    SELECT r.*
    FROM basis_1s r
    WHERE (SELECT ok FROM complete)
      AND r.underlying = $underlying
      AND r.second >= $start AND r.second + 1000000000 <= $end
      AND (r.second - $start) % $bucket_ns <= $bucket_ns - 1000000000
),
rows_in AS (
    -- buckets aligned to whole seconds: only the last, partial second of the window
    SELECT venue, epoch_ns(ts_event) AS ts_ns, mid_usd, multiplier, ref_mid
    FROM basis
    WHERE (SELECT ok AND aligned FROM complete)
      AND underlying = $underlying
      AND ts_event >= make_timestamp_ns($end // 1000000000 * 1000000000)
      AND ts_event < make_timestamp_ns($end)
    UNION ALL
    -- otherwise every row of a second not in basis_1s' part
    SELECT venue, epoch_ns(ts_event) AS ts_ns, mid_usd, multiplier, ref_mid
    FROM basis
    WHERE NOT (SELECT ok AND aligned FROM complete)
      AND underlying = $underlying
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
      AND NOT (
          -- the row's second is inside the window and inside one bucket: (second - $start)
          -- mod $bucket_ns leaves a whole second before the next boundary
          (SELECT ok FROM complete)
          AND ts_event >= make_timestamp_ns(($start + 999999999) // 1000000000 * 1000000000)
          AND ts_event < make_timestamp_ns($end // 1000000000 * 1000000000)
          AND (epoch_ns(ts_event) - epoch_ns(ts_event) % 1000000000 - $start) % $bucket_ns
              <= $bucket_ns - 1000000000
      )
),
bbo AS (
    SELECT epoch_ns(ts_event) AS ts_ns, best_bid_usd AS bid, best_ask_usd AS ask
    FROM consolidated_bbo
    WHERE underlying = $underlying
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
),
points AS (
    -- (series, the lowest point, the highest point); a basis row is both
    SELECT venue AS series, ts_ns AS lo_ns, mid_usd / multiplier AS lo,
           ts_ns AS hi_ns, mid_usd / multiplier AS hi
    FROM rows_in WHERE mid_usd IS NOT NULL AND ($venue IS NULL OR venue = $venue)
    UNION ALL
    SELECT 'reference' AS series, ts_ns, ref_mid, ts_ns, ref_mid
    FROM rows_in WHERE ref_mid IS NOT NULL
    UNION ALL
    SELECT venue AS series, px_lo_ns, px_lo, px_hi_ns, px_hi
    FROM rolled WHERE px_lo IS NOT NULL AND ($venue IS NULL OR venue = $venue)
    UNION ALL
    SELECT 'reference' AS series, ref_lo_ns, ref_lo, ref_hi_ns, ref_hi
    FROM rolled WHERE ref_lo IS NOT NULL
    UNION ALL
    SELECT 'bbo_bid' AS series, ts_ns, bid, ts_ns, bid FROM bbo WHERE bid IS NOT NULL
    UNION ALL
    SELECT 'bbo_ask' AS series, ts_ns, ask, ts_ns, ask FROM bbo WHERE ask IS NOT NULL
),
buckets AS (
    -- both points of a basis_1s row are in one bucket (its second is)
    SELECT series,
           (lo_ns - $start) // $bucket_ns AS bucket,
           arg_min(lo_ns, (lo, lo_ns)) AS ts_lo, min(lo) AS v_lo,
           arg_max(hi_ns, (hi, -hi_ns)) AS ts_hi, max(hi) AS v_hi
    FROM points
    GROUP BY series, bucket
)
SELECT series, ts_lo AS ts_ns, v_lo AS value FROM buckets
UNION
SELECT series, ts_hi AS ts_ns, v_hi AS value FROM buckets
ORDER BY series, ts_ns, value;
