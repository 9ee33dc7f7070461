-- api_bands: shadow LULD band states (luld_bands) for the HTTP API, in time order, one page.
-- Grain: one row per (underlying, ts_event) change of the band state, in force until the
-- next row of the underlying; the caller asks for one row more than the page size.
-- Params: $start, $end epoch ns on ts_event (end exclusive; NULL = unbounded);
--         $underlying (NULL = every underlying); $limit rows at most.
SELECT epoch_ns(ts_event) AS ts_event_ns, * EXCLUDE (ts_event)
FROM luld_bands
WHERE ($start IS NULL OR ts_event >= make_timestamp_ns($start))
  AND ($end IS NULL OR ts_event < make_timestamp_ns($end))
  AND ($underlying IS NULL OR underlying = $underlying)
ORDER BY ts_event, underlying
LIMIT $limit;
