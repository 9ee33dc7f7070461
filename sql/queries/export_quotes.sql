-- export_quotes: the rows of `quotes` for the Parquet export, with their partition keys.
-- Grain: one row per `quotes` row. Partition keys: date = UTC date of ts_event;
--   underlying = the instrument's in `instruments`
--   ('_none' when the catalog does not list the instrument).
-- Bound by the exporter: $day_from, $day_to (DATE, end exclusive) select the dates.
-- The exporter drops the key columns from the files; readers get them from the path.
-- The date floors the timestamp (a CAST of TIMESTAMP_NS to DATE rounds to the us first).
SELECT CAST(make_timestamp(epoch_ns(r.ts_event) // 1000) AS DATE) AS date,
       coalesce(i.underlying, '_none') AS underlying, r.*
FROM quotes AS r
LEFT JOIN instruments AS i ON i.instrument_id = r.instrument_id
WHERE r.ts_event >= CAST($day_from AS TIMESTAMP_NS)
  AND r.ts_event < CAST($day_to AS TIMESTAMP_NS);
