-- export_luld_events: the rows of `luld_events` for the Parquet export, with their partition keys.
-- Grain: one row per `luld_events` row. Partition keys: date = UTC date of ts_start;
--   underlying = underlying.
-- Bound by the exporter: $day_from, $day_to (DATE, end exclusive) select the dates.
-- The exporter drops the key columns from the files; readers get them from the path.
-- The date floors the timestamp (a CAST of TIMESTAMP_NS to DATE rounds to the us first).
SELECT CAST(make_timestamp(epoch_ns(ts_start) // 1000) AS DATE) AS date,
       underlying, * EXCLUDE (underlying)
FROM luld_events
WHERE ts_start >= CAST($day_from AS TIMESTAMP_NS)
  AND ts_start < CAST($day_to AS TIMESTAMP_NS);
