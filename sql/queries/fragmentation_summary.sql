-- fragmentation_summary: how fragmented each underlying's token market was over a window.
-- title: Fragmentation summary
-- description: From the one-minute fragmentation buckets over the window (default: the
--   last week of buckets), per underlying: minutes, volume and depth, the effective
--   number of venues (1/HHI) by volume and by depth, venue-mid dispersion, and the time
--   the consolidated book was locked, crossed, and crossed net of taker fees.
-- params: start (timestamp, optional), end (timestamp, optional), underlying (text, optional)
-- Grain: one row per underlying with buckets in the window.
WITH bounds AS (
    SELECT
        coalesce($end, (SELECT max(bucket_start) FROM fragmentation_1m) + INTERVAL 1 MINUTE)
            AS end_ts,
        coalesce($start, coalesce($end, (SELECT max(bucket_start) FROM fragmentation_1m))
            - INTERVAL 7 DAY) AS start_ts
)
SELECT
    f.underlying,
    count(*) AS minutes,
    min(f.bucket_start) AS first_bucket,
    max(f.bucket_start) AS last_bucket,
    round(avg(f.active_venues), 2) AS mean_active_venues,
    round(sum(f.volume_usd), 2) AS volume_usd,
    round(avg(f.depth_usd), 2) AS mean_depth_usd,
    round(avg(f.ffi_volume), 3) AS mean_venues_by_volume,
    round(avg(f.ffi_depth), 3) AS mean_venues_by_depth,
    round(avg(f.mid_dispersion_bps), 3) AS mean_mid_dispersion_bps,
    round(max(f.mid_range_bps), 3) AS max_mid_range_bps,
    round(sum(f.locked_ns) / 1e9, 3) AS locked_s,
    round(sum(f.crossed_ns) / 1e9, 3) AS crossed_s,
    round(sum(f.crossed_net_ns) / 1e9, 3) AS crossed_net_s,
    round(100.0 * sum(f.crossed_ns) / (count(*) * 60e9), 3) AS crossed_pct,
    round(max(f.crossed_bps_max), 3) AS max_crossed_bps
FROM fragmentation_1m AS f, bounds
WHERE f.bucket_start >= bounds.start_ts AND f.bucket_start < bounds.end_ts
  AND ($underlying IS NULL OR f.underlying = $underlying)
GROUP BY f.underlying
ORDER BY f.underlying;
