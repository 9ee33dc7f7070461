-- export_venue_scorecard_daily: the rows of `venue_scorecard_daily` for the Parquet export, with their partition keys.
-- Grain: one row per `venue_scorecard_daily` row. Partition keys: date = day;
--   underlying = underlying.
-- Bound by the exporter: $day_from, $day_to (DATE, end exclusive) select the dates.
-- The exporter drops the key columns from the files; readers get them from the path.
SELECT day AS date, underlying, * EXCLUDE (underlying)
FROM venue_scorecard_daily
WHERE day >= CAST($day_from AS DATE)
  AND day < CAST($day_to AS DATE);
