-- chart_sessions: the underlying's market sessions as intervals clipped to a window,
-- for shading the charts. Repeated announcements of the same session are merged; the
-- session in force at $start (announced before it) is included; the last one runs to $end.
-- Grain: one row per session interval overlapping [$start, $end).
-- Params: $underlying; $start, $end epoch ns (end exclusive).
-- Columns: session, start_ns, end_ns (epoch ns).
WITH announced AS (
    SELECT epoch_ns(ts_event) AS ts_ns, session,
           lag(session) OVER (ORDER BY ts_event, ingest_seq) AS previous
    FROM session_states
    WHERE underlying = $underlying
),
changes AS (
    SELECT ts_ns, session, lead(ts_ns) OVER (ORDER BY ts_ns) AS next_ns
    FROM announced
    WHERE previous IS NULL OR previous <> session
)
SELECT session,
       greatest(ts_ns, $start) AS start_ns,
       least(coalesce(next_ns, $end), $end) AS end_ns
FROM changes
WHERE ts_ns < $end AND coalesce(next_ns, $end) > $start
ORDER BY start_ns;
