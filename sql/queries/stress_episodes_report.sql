-- stress_episodes_report: market-wide stress episodes, many tokens leaving their basis baselines at once.
-- title: Stress episodes
-- description: Every closed market-wide stress episode that started in the window
--   (default: the last week of data): when it started, was confirmed, peaked and ended,
--   how long it lasted, the underlyings stressed, the peak breadth and basis, and whether
--   the stock market was closed at the start.
-- params: start (timestamp, optional), end (timestamp, optional), min_symbols (integer, default 1)
-- Grain: one row per stress episode, newest first.
WITH bounds AS (
    SELECT
        coalesce($end, (SELECT max(ts_event) FROM basis) + INTERVAL 1 MICROSECOND) AS end_ts,
        coalesce($start, coalesce($end, (SELECT max(ts_event) FROM basis)) - INTERVAL 7 DAY)
            AS start_ts
)
SELECT
    s.episode_start, s.confirmed_at, s.peak_ts, s.episode_end,
    round(s.duration_s, 1) AS duration_s,
    array_to_string(list_sort(s.symbols), ',') AS symbols,
    s.n_symbols, s.peak_stressed, s.peak_active,
    round(s.peak_median_abs_basis_bps, 2) AS peak_median_abs_basis_bps,
    round(s.max_abs_z, 2) AS max_abs_z,
    s.session, s.market_closed, s.start_clipped
FROM stress_episodes AS s, bounds
WHERE s.episode_start >= bounds.start_ts AND s.episode_start < bounds.end_ts
  AND s.n_symbols >= $min_symbols
ORDER BY s.episode_start DESC;
