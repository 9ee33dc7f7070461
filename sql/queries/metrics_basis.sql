-- metrics_basis: the basis rows the basis statistics and the stress detector read
-- (divergence.metrics.windowed.BASIS_ROWS_SCHEMA), from the basis table.
-- Grain: one row per basis row (token book top or pool state) with ts_event in
-- [$ts_lo, $ts_hi] written from inputs with ingest_seq <= $seq (source_seq), ordered by
-- (ts_event, source_seq).
-- Params: $ts_lo, $ts_hi BIGINT epoch ns; $seq BIGINT.
SELECT ts_event, instrument_id, venue, underlying, session, ref_state, ref_kind,
    source_seq, basis_bps
FROM basis
WHERE source_seq <= $seq
    AND ts_event >= make_timestamp_ns($ts_lo)
    AND ts_event <= make_timestamp_ns($ts_hi)
ORDER BY ts_event, source_seq;
