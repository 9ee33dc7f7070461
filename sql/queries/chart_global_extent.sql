-- chart_global_extent: the time range of every basis row (all underlyings), the default
-- window of the global dashboards; only $venue's rows when a venue is chosen.
-- Grain: one row; both columns NULL when there are no rows.
-- Params: $venue (NULL: every venue).
-- Columns: start_ns, end_ns (epoch ns; end is the last row's time, inclusive).
SELECT epoch_ns(min(ts_event)) AS start_ns, epoch_ns(max(ts_event)) AS end_ns
FROM basis
WHERE $venue IS NULL OR venue = $venue;
