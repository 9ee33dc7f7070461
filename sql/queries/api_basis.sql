-- api_basis: basis rows of one underlying for the HTTP API, in time order, one page.
-- Grain: one row per basis row (token quote or pool state); the caller asks for one row
-- more than the page size to learn whether the page is truncated.
-- Params: $underlying; $start, $end epoch ns (end exclusive; NULL = unbounded);
--         $venue (NULL = every venue); $limit rows at most.
SELECT epoch_ns(ts_event) AS ts_event_ns, instrument_id, venue, underlying, quote_currency,
       session, ref_state, bid_usd, ask_usd, mid_usd, multiplier, ref_mid, ref_age_ms,
       basis_bps, exec_basis_bps, fx_rate, ref_instrument_id, ref_kind, ref_confidence,
       ref_session, split_factor, fx_state, fx_sources, fx_depeg, basis_sc_bps, sc_effect_bps
FROM basis
WHERE underlying = $underlying
  AND ($start IS NULL OR ts_event >= make_timestamp_ns($start))
  AND ($end IS NULL OR ts_event < make_timestamp_ns($end))
  AND ($venue IS NULL OR venue = $venue)
ORDER BY ts_event, instrument_id
LIMIT $limit;
