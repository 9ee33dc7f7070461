-- export_fx_rates: the rows of `fx_rates` for the Parquet export, with their partition keys.
-- Grain: one row per `fx_rates` row. Partition keys: date = UTC date of ts_event;
--   underlying = none (NULL): the table is exported by date only.
-- Bound by the exporter: $day_from, $day_to (DATE, end exclusive) select the dates.
-- The exporter drops the key columns from the files; readers get them from the path.
-- The date floors the timestamp (a CAST of TIMESTAMP_NS to DATE rounds to the us first).
SELECT CAST(make_timestamp(epoch_ns(ts_event) // 1000) AS DATE) AS date,
       CAST(NULL AS VARCHAR) AS underlying, *
FROM fx_rates
WHERE ts_event >= CAST($day_from AS TIMESTAMP_NS)
  AND ts_event < CAST($day_to AS TIMESTAMP_NS);
