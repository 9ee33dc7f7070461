-- export_fragmentation_1m: the rows of `fragmentation_1m` for the Parquet export, with their partition keys.
-- Grain: one row per `fragmentation_1m` row. Partition keys: date = UTC date of bucket_start;
--   underlying = underlying.
-- Bound by the exporter: $day_from, $day_to (DATE, end exclusive) select the dates.
-- The exporter drops the key columns from the files; readers get them from the path.
-- The date floors the timestamp (a CAST of TIMESTAMP_NS to DATE rounds to the us first).
SELECT CAST(make_timestamp(epoch_ns(bucket_start) // 1000) AS DATE) AS date,
       underlying, * EXCLUDE (underlying)
FROM fragmentation_1m
WHERE bucket_start >= CAST($day_from AS TIMESTAMP_NS)
  AND bucket_start < CAST($day_to AS TIMESTAMP_NS);
