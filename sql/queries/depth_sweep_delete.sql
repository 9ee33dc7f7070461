-- depth_sweep_delete: remove the sweep_costs_1m rows a depth chunk recomputes.
-- Grain: every row with ts_event in [$start, $end).
-- Params: $start, $end BIGINT epoch ns.
DELETE FROM sweep_costs_1m
WHERE ts_event >= make_timestamp_ns($start) AND ts_event < make_timestamp_ns($end);
