-- top_divergences: the widest basis per token listing over a window (default: the last week).
-- title: Top divergences this week
-- description: Each listing's widest basis against a live reference in the window, when
--   it happened and in which session, with its average and how long it spent beyond
--   min_abs_bps. The window defaults to the seven days up to the latest basis row.
-- params: start (timestamp, optional), end (timestamp, optional), min_abs_bps (number, default 25), limit (integer, default 20)
-- Grain: one row per listing (instrument_id) whose peak |basis| reached min_abs_bps,
-- widest first, at most `limit` rows.
WITH bounds AS (
    SELECT
        coalesce($end, (SELECT max(ts_event) FROM basis) + INTERVAL 1 MICROSECOND) AS end_ts,
        coalesce($start, coalesce($end, (SELECT max(ts_event) FROM basis)) - INTERVAL 7 DAY)
            AS start_ts
),
live AS (
    SELECT b.*
    FROM basis AS b, bounds
    WHERE b.ref_state = 'live' AND b.basis_bps IS NOT NULL
      AND b.ts_event >= bounds.start_ts AND b.ts_event < bounds.end_ts
)
SELECT
    instrument_id,
    any_value(underlying) AS underlying,
    any_value(venue) AS venue,
    round(arg_max(basis_bps, abs(basis_bps)), 2) AS peak_basis_bps,
    arg_max(ts_event, abs(basis_bps)) AS peak_at,
    arg_max(session, abs(basis_bps)) AS peak_session,
    round(avg(basis_bps), 2) AS mean_basis_bps,
    count(*) AS observations,
    count(*) FILTER (WHERE abs(basis_bps) >= $min_abs_bps) AS observations_beyond
FROM live
GROUP BY instrument_id
HAVING max(abs(basis_bps)) >= $min_abs_bps
ORDER BY max(abs(basis_bps)) DESC, instrument_id
LIMIT $limit;
