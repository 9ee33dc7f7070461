-- api_quotes: token and reference quotes for the HTTP API, in time order, one page.
-- Grain: one row per quote event (quotes), with the instrument's underlying and role from
-- the catalog (NULL when the instrument is not in it); the caller asks for one row more
-- than the page size to learn whether the page is truncated.
-- Params: $start, $end epoch ns (end exclusive; NULL = unbounded); $underlying, $venue,
--         $instrument, $role ('token' | 'reference') (NULL = any); $limit rows at most.
SELECT epoch_ns(q.ts_event) AS ts_event_ns, epoch_ns(q.ts_recv) AS ts_recv_ns,
       q.venue, q.instrument_id, q.symbol, i.underlying, i.role,
       q.bid_px, q.bid_sz, q.ask_px, q.ask_sz, q.ingest_seq
FROM quotes AS q
LEFT JOIN instruments AS i ON i.instrument_id = q.instrument_id
WHERE ($start IS NULL OR q.ts_event >= make_timestamp_ns($start))
  AND ($end IS NULL OR q.ts_event < make_timestamp_ns($end))
  AND ($underlying IS NULL OR i.underlying = $underlying)
  AND ($venue IS NULL OR q.venue = $venue)
  AND ($instrument IS NULL OR q.instrument_id = $instrument)
  AND ($role IS NULL OR i.role = $role)
ORDER BY q.ts_event, q.instrument_id, q.ingest_seq
LIMIT $limit;
