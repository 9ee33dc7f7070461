-- api_fragmentation_1m: fragmentation_1m rows for the HTTP API, in time order, one page.
-- Grain: one row per (underlying, bucket_start) 1m bucket; the caller asks for one row more
-- than the page size to learn whether the page is truncated.
-- Params: $start, $end epoch ns on bucket_start (end exclusive; NULL = unbounded);
--         $underlying (NULL = every underlying); $limit rows at most.
SELECT epoch_ns(bucket_start) AS bucket_start_ns, * EXCLUDE (bucket_start)
FROM fragmentation_1m
WHERE ($start IS NULL OR bucket_start >= make_timestamp_ns($start))
  AND ($end IS NULL OR bucket_start < make_timestamp_ns($end))
  AND ($underlying IS NULL OR underlying = $underlying)
ORDER BY bucket_start, underlying
LIMIT $limit;
