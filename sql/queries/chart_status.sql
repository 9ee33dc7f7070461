-- chart_status: the latest session and reference state seen by the basis job for an
-- underlying, for the dashboard's badge.
-- Grain: at most one row (the latest basis row of the underlying).
-- Params: $underlying.
-- Columns: session, ref_state, ts_ns (epoch ns).
SELECT session, ref_state, epoch_ns(ts_event) AS ts_ns
FROM basis
WHERE underlying = $underlying
ORDER BY ts_event DESC
LIMIT 1;
