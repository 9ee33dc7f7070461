-- fx_composite_delete_range: remove the fx_composite rows a backfill is about to recompute.
-- Grain: deletes every row with ts_event in [$start, $end] (inclusive).
-- Params: $start, $end BIGINT epoch ns.
DELETE FROM fx_composite
WHERE ts_event >= make_timestamp_ns($start)
    AND ts_event <= make_timestamp_ns($end);
