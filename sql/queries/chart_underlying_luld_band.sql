-- chart_underlying_luld_band: the shadow LULD band (luld_bands lower/upper_band_usd, USD
-- per share) as a step band: each row is in force from ts_ns until the next row. The row
-- in force at $start is included with ts_ns moved to $start; NULL bounds (no tier or no
-- prior close, the reset at ET midnight) end the band until the next row with bounds.
-- Downsampled on the server: per time bucket the first and last rows, the row with the
-- lowest lower bound and the row with the highest upper bound, and every row where the
-- band appears or disappears (at most 4 rows per bucket plus those edges).
-- Grain: one row per kept band state; series is 'shadow LULD'.
-- Params: $underlying; $start, $end epoch ns (end exclusive); $bucket_ns bucket width in ns.
-- Columns: series, ts_ns (epoch ns), lower, upper (USD per share, NULL: no band).
WITH at_start AS (
    SELECT $start AS ts_ns, lower_band_usd AS lower, upper_band_usd AS upper
    FROM luld_bands
    WHERE underlying = $underlying AND ts_event <= make_timestamp_ns($start)
    ORDER BY ts_event DESC
    LIMIT 1
),
rows_in AS (
    SELECT ts_ns, lower, upper FROM at_start
    UNION ALL
    SELECT epoch_ns(ts_event) AS ts_ns, lower_band_usd AS lower, upper_band_usd AS upper
    FROM luld_bands
    WHERE underlying = $underlying
      AND ts_event > make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
),
ranked AS (
    SELECT ts_ns, lower, upper,
           (ts_ns - $start) // $bucket_ns AS bucket,
           lag(lower IS NULL) OVER (ORDER BY ts_ns) AS was_null
    FROM rows_in
),
marked AS (
    SELECT *,
           row_number() OVER (PARTITION BY bucket ORDER BY ts_ns) AS first_rank,
           row_number() OVER (PARTITION BY bucket ORDER BY ts_ns DESC) AS last_rank,
           row_number() OVER (PARTITION BY bucket ORDER BY lower ASC NULLS LAST, ts_ns)
               AS low_rank,
           row_number() OVER (PARTITION BY bucket ORDER BY upper DESC NULLS LAST, ts_ns)
               AS high_rank
    FROM ranked
)
SELECT 'shadow LULD' AS series, ts_ns, lower, upper
FROM marked
WHERE first_rank = 1 OR last_rank = 1 OR low_rank = 1 OR high_rank = 1
   OR was_null IS DISTINCT FROM (lower IS NULL)
ORDER BY ts_ns;
