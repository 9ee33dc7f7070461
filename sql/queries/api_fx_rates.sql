-- api_fx_rates: stablecoin rate observations (fx_rates) for the HTTP API, in time order.
-- Grain: one row per rate observation (rate_usd an exact decimal); the caller asks for one
-- row more than the page size to learn whether the page is truncated.
-- Params: $start, $end epoch ns on ts_event (end exclusive; NULL = unbounded);
--         $currency, $venue (NULL = any); $limit rows at most.
SELECT epoch_ns(ts_event) AS ts_event_ns, epoch_ns(ts_recv) AS ts_recv_ns,
       venue, currency, rate_usd, ingest_seq
FROM fx_rates
WHERE ($start IS NULL OR ts_event >= make_timestamp_ns($start))
  AND ($end IS NULL OR ts_event < make_timestamp_ns($end))
  AND ($currency IS NULL OR currency = $currency)
  AND ($venue IS NULL OR venue = $venue)
ORDER BY ts_event, venue, currency, ingest_seq
LIMIT $limit;
