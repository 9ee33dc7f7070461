-- basis_delete_range: remove the basis rows a backfill is about to recompute.
-- Grain: deletes every basis row with ts_event in [$start, $end] (inclusive).
-- Params: $start, $end BIGINT epoch ns.
DELETE FROM basis
WHERE ts_event >= make_timestamp_ns($start)
    AND ts_event <= make_timestamp_ns($end);
