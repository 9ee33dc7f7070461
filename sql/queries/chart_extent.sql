-- chart_extent: the time range of an underlying's basis rows, the default chart window.
-- Grain: one row; both columns NULL when the underlying has no rows.
-- Params: $underlying.
-- Columns: start_ns, end_ns (epoch ns; end is the last row's time, inclusive).
SELECT epoch_ns(min(ts_event)) AS start_ns, epoch_ns(max(ts_event)) AS end_ns
FROM basis
WHERE underlying = $underlying;
