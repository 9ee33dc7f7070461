-- api_sweeps: sweep_costs_1m rows for the HTTP API, in time order, one page.
-- Grain: one row per (ts_event, underlying, side, notional_usd) sample; the caller asks
-- for one row more than the page size to learn whether the page is truncated.
-- Params: $start, $end epoch ns on ts_event (end exclusive; NULL = unbounded);
--         $underlying, $side ('buy' | 'sell') (NULL = any); $limit rows at most.
SELECT epoch_ns(ts_event) AS ts_event_ns, * EXCLUDE (ts_event)
FROM sweep_costs_1m
WHERE ($start IS NULL OR ts_event >= make_timestamp_ns($start))
  AND ($end IS NULL OR ts_event < make_timestamp_ns($end))
  AND ($underlying IS NULL OR underlying = $underlying)
  AND ($side IS NULL OR side = $side)
ORDER BY ts_event, underlying, side, notional_usd
LIMIT $limit;
