-- export_daily_premium: the rows of `daily_premium` for the Parquet export, with their partition keys.
-- Grain: one row per `daily_premium` row. Partition keys: date = trading_day;
--   underlying = underlying.
-- Bound by the exporter: $day_from, $day_to (DATE, end exclusive) select the dates.
-- The exporter drops the key columns from the files; readers get them from the path.
SELECT trading_day AS date, underlying, * EXCLUDE (underlying)
FROM daily_premium
WHERE trading_day >= CAST($day_from AS DATE)
  AND trading_day < CAST($day_to AS DATE);
