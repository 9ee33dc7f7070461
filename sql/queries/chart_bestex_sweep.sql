-- chart_bestex_sweep: what it costs to trade each Rule 605 notional on the token, against
-- the underlying's NBBO mid, averaged over the sweep samples in the window (sweep_costs_1m,
-- both sides, only samples with a usable reference mid R and a consolidated fill):
--   consolidated       mean of token_vs_stock_gap_bps = D (fill_consolidated - R) / R x 1e4
--   best single venue  mean of D (fill_best_venue - R) / R x 1e4 over the samples where one
--                      venue alone could fill the notional
--   underlying         mean of the reference's half spread (NBO - NBB) / (NBO + NBB) x 1e4
--                      at the sample (the last reference quote at or before it, at most
--                      60 s old): crossing the NBBO, depth beyond it unknown
-- D = +1 buys, -1 sells; a positive cost is paid, a negative one is a gain against R.
-- Grain: one row per (series, notional); categories in increasing notional order.
-- Params: $underlying; $start, $end epoch ns (end exclusive).
-- Columns: series, category ('$250', '$1k', ... the notional swept), value (bps),
-- notional_usd, samples (how many sample x side rows the mean is over).
WITH sweeps AS (
    SELECT ts_event, side, notional_usd, ref_mid_usd, token_vs_stock_gap_bps,
           CASE WHEN side = 'buy' THEN 1 ELSE -1 END
               * (fill_best_venue_usd - ref_mid_usd) / ref_mid_usd * 1e4 AS best_bps
    FROM sweep_costs_1m
    WHERE underlying = $underlying
      AND ts_event >= make_timestamp_ns($start)
      AND ts_event < make_timestamp_ns($end)
      AND fillable
      AND ref_mid_usd IS NOT NULL
      AND token_vs_stock_gap_bps IS NOT NULL
),
refs AS (
    SELECT q.ts_event, CAST(q.bid_px AS DOUBLE) AS nbb, CAST(q.ask_px AS DOUBLE) AS nbo
    FROM quotes AS q
    JOIN instruments AS i ON i.instrument_id = q.instrument_id
    WHERE i.role = 'reference' AND i.underlying = $underlying
      AND q.ts_event >= make_timestamp_ns($start - 60000000000)
      AND q.ts_event < make_timestamp_ns($end)
      AND q.bid_px > 0 AND q.ask_px >= q.bid_px
),
instants AS (
    SELECT DISTINCT ts_event FROM sweeps
),
spreads AS (
    SELECT s.ts_event, (r.nbo - r.nbb) / (r.nbo + r.nbb) * 1e4 AS half_spread_bps
    FROM instants AS s
    ASOF JOIN refs AS r ON s.ts_event >= r.ts_event
    WHERE s.ts_event - r.ts_event <= INTERVAL 60 SECOND
),
costs AS (
    SELECT 1 AS ord, 'consolidated' AS series, notional_usd,
           avg(token_vs_stock_gap_bps) AS value, count(*) AS samples
    FROM sweeps GROUP BY notional_usd
    UNION ALL
    SELECT 2, 'best single venue', notional_usd, avg(best_bps), count(best_bps)
    FROM sweeps WHERE best_bps IS NOT NULL GROUP BY notional_usd
    UNION ALL
    SELECT 3, 'underlying', w.notional_usd, avg(p.half_spread_bps), count(*)
    FROM sweeps AS w JOIN spreads AS p ON p.ts_event = w.ts_event
    GROUP BY w.notional_usd
)
SELECT series,
       CASE
           WHEN notional_usd >= 1000 THEN '$' || CAST(notional_usd // 1000 AS BIGINT) || 'k'
           ELSE '$' || CAST(notional_usd AS BIGINT)
       END AS category,
       value, notional_usd, samples
FROM costs
ORDER BY notional_usd, ord;
