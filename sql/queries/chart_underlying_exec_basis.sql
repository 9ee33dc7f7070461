-- chart_underlying_exec_basis: executable basis in bps per venue (basis.exec_basis_bps: the
-- top of book net of the venue's taker fee against the far side of the reference NBBO),
-- downsampled on the server: the min and the max point of every time bucket.
-- The sign is the side: > 0 premium (sell the token at its bid, buy the stock at the NBO),
-- < 0 discount (buy the token at its ask, sell the stock at the NBB), 0 inside the fee band.
-- Rows without it (reference not live, FX unusable) are left out: a gap.
-- Grain: one row per (series, bucket, extreme); series is a venue id.
-- Params: $underlying; $venue (NULL = every venue); $start, $end epoch ns (end exclusive);
-- $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns), value (bps).
WITH points AS (
    SELECT venue AS series, epoch_ns(ts_event) AS ts_ns, exec_basis_bps AS value
    FROM basis
    WHERE underlying = $underlying
      AND ($venue IS NULL OR venue = $venue)
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
      AND exec_basis_bps IS NOT NULL
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
