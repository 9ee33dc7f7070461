-- chart_overview_fx: the latest stablecoin rate of every (currency, source) before $end,
-- next to the median of all fresh sources at that observation (fx_composite), for the
-- overview's table. deviation_bps = (rate / median - 1) x 1e4; median_off_peg_bps =
-- (median - 1) x 1e4; the depeg flags as the basis job set them (docs/metrics.md
-- "Stablecoin FX").
-- Grain: one row per (currency, source) with an observation before $end.
-- Params: $end epoch ns (exclusive).
-- Columns: currency, source, rate_usd, median_usd, sources, deviation_bps,
-- median_off_peg_bps, venue_local_depeg, stablecoin_depeg, ts_ns (epoch ns), age_s.
WITH latest AS (
    SELECT currency, venue AS source, rate_usd, median_usd, sources, deviation_bps,
           venue_local_depeg, stablecoin_depeg, epoch_ns(ts_event) AS ts_ns
    FROM fx_composite
    WHERE ts_event < make_timestamp_ns($end)
    QUALIFY row_number() OVER (
        PARTITION BY currency, venue ORDER BY ts_event DESC, source_seq DESC
    ) = 1
)
SELECT currency, source, rate_usd, median_usd, sources, deviation_bps,
       (median_usd - 1) * 1e4 AS median_off_peg_bps, venue_local_depeg, stablecoin_depeg,
       ts_ns, ($end - ts_ns) / 1e9 AS age_s
FROM latest
ORDER BY currency, source;
