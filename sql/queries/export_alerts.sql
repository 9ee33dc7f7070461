-- export_alerts: the rows of `alerts` for the Parquet export, with their partition keys.
-- Grain: one row per `alerts` row. Partition keys: date = UTC date of active_at;
--   underlying = none (NULL): the table is exported by date only.
-- Bound by the exporter: $day_from, $day_to (DATE, end exclusive) select the dates.
-- The exporter drops the key columns from the files; readers get them from the path.
-- The date floors the timestamp (a CAST of TIMESTAMP_NS to DATE rounds to the us first).
SELECT CAST(make_timestamp(epoch_ns(active_at) // 1000) AS DATE) AS date,
       CAST(NULL AS VARCHAR) AS underlying, *
FROM alerts
WHERE active_at >= CAST($day_from AS TIMESTAMP_NS)
  AND active_at < CAST($day_to AS TIMESTAMP_NS);
