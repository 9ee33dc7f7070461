-- fx_rates_new: stablecoin rate observations that became computable since the last step
-- (the selection rule of basis_token_quotes.sql), for fx_composite.
-- Grain: one row per fx_rates row, ordered by (ts_event, ingest_seq).
-- Params: $seq, $ts, $seq_done, $ts_done BIGINT.
SELECT ts_event, venue, currency, CAST(rate_usd AS DOUBLE) AS rate_usd, ingest_seq AS source_seq
FROM fx_rates
WHERE ingest_seq <= $seq
    AND ts_event > make_timestamp_ns($ts_done)
    AND ts_event <= make_timestamp_ns($ts)
UNION ALL
SELECT ts_event, venue, currency, CAST(rate_usd AS DOUBLE) AS rate_usd, ingest_seq AS source_seq
FROM fx_rates
WHERE ingest_seq > $seq_done
    AND ingest_seq <= $seq
    AND ts_event <= make_timestamp_ns($ts_done)
ORDER BY ts_event, source_seq;
