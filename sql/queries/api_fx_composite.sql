-- api_fx_composite: stablecoin rates next to the median of all sources (fx_composite) for
-- the HTTP API, in time order, one page.
-- Grain: one row per fx_rates observation; the caller asks for one row more than the page
-- size to learn whether the page is truncated.
-- Params: $start, $end epoch ns on ts_event (end exclusive; NULL = unbounded);
--         $currency, $venue (NULL = any); $limit rows at most.
SELECT epoch_ns(ts_event) AS ts_event_ns, venue, currency, rate_usd, median_usd, sources,
       deviation_bps, venue_local_depeg, stablecoin_depeg, source_seq
FROM fx_composite
WHERE ($start IS NULL OR ts_event >= make_timestamp_ns($start))
  AND ($end IS NULL OR ts_event < make_timestamp_ns($end))
  AND ($currency IS NULL OR currency = $currency)
  AND ($venue IS NULL OR venue = $venue)
ORDER BY ts_event, venue, currency, source_seq
LIMIT $limit;
