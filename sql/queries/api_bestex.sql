-- api_bestex: execution_quality rows (Rule 605-style, one per token trade) for the HTTP
-- API, in time order, one page.
-- Grain: one row per token trade; the caller asks for one row more than the page size to
-- learn whether the page is truncated.
-- Params: $start, $end epoch ns on ts_event (end exclusive; NULL = unbounded);
--         $underlying, $venue, $instrument (NULL = any); $limit rows at most.
SELECT epoch_ns(ts_event) AS ts_event_ns, epoch_ns(bbo_ts) AS bbo_ts_ns,
       epoch_ns(ref_ts) AS ref_ts_ns, * EXCLUDE (ts_event, bbo_ts, ref_ts)
FROM execution_quality
WHERE ($start IS NULL OR ts_event >= make_timestamp_ns($start))
  AND ($end IS NULL OR ts_event < make_timestamp_ns($end))
  AND ($underlying IS NULL OR underlying = $underlying)
  AND ($venue IS NULL OR venue = $venue)
  AND ($instrument IS NULL OR instrument_id = $instrument)
ORDER BY ts_event, instrument_id, source_seq
LIMIT $limit;
