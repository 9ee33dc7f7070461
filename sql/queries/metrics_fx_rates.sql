-- metrics_fx_rates: the stablecoin rates the FX median of token trades in a span can use.
-- Grain: one row per fx_rates row of a source in $keys (venue || '|' || currency) with
-- ts_event in [$ts_lo, $ts_hi] and ingest_seq <= $seq, ordered by (ts_event, ingest_seq)
-- so equal timestamps resolve to the last written. The caller passes $ts_lo = the span's
-- start minus basis.fx_max_staleness_ms: older rates are never fresh.
-- Params: $keys VARCHAR[]; $ts_lo, $ts_hi BIGINT epoch ns; $seq BIGINT.
SELECT ts_event, venue, currency, CAST(rate_usd AS DOUBLE) AS rate_usd
FROM fx_rates
WHERE list_contains($keys, venue || '|' || currency)
    AND ingest_seq <= $seq
    AND ts_event >= make_timestamp_ns($ts_lo)
    AND ts_event <= make_timestamp_ns($ts_hi)
ORDER BY ts_event, ingest_seq;
