-- api_trades: token and reference trades for the HTTP API, in time order, one page.
-- Grain: one row per trade (trades), with the instrument's underlying and role from the
-- catalog (NULL when the instrument is not in it); the caller asks for one row more than
-- the page size to learn whether the page is truncated.
-- Params: $start, $end epoch ns (end exclusive; NULL = unbounded); $underlying, $venue,
--         $instrument, $role ('token' | 'reference') (NULL = any); $limit rows at most.
SELECT epoch_ns(t.ts_event) AS ts_event_ns, epoch_ns(t.ts_recv) AS ts_recv_ns,
       t.venue, t.instrument_id, t.symbol, i.underlying, i.role,
       t.price, t.size, t.side, t.trade_id, t.ingest_seq
FROM trades AS t
LEFT JOIN instruments AS i ON i.instrument_id = t.instrument_id
WHERE ($start IS NULL OR t.ts_event >= make_timestamp_ns($start))
  AND ($end IS NULL OR t.ts_event < make_timestamp_ns($end))
  AND ($underlying IS NULL OR i.underlying = $underlying)
  AND ($venue IS NULL OR t.venue = $venue)
  AND ($instrument IS NULL OR t.instrument_id = $instrument)
  AND ($role IS NULL OR i.role = $role)
ORDER BY t.ts_event, t.instrument_id, t.ingest_seq
LIMIT $limit;
