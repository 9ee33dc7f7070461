-- metrics_reference_nbbo: the underlying's NBBO with its session, the metrics engine's
-- REFERENCE_NBBO (divergence.metrics.schemas), from the reference_quotes view (its
-- session: the XNYS calendar's, or a halt a venue announced within that interval).
-- Grain: one row per reference quote with ts_event in [$ts_lo, $ts_hi] and
-- ingest_seq <= $seq, ordered by (ts_event, ingest_seq). A quote is kept when its
-- instrument serves that session (instruments.ref_sessions; an overnight venue's quote
-- in regular hours is not the NBBO), and always while closed or halted.
-- Params: $ts_lo, $ts_hi BIGINT epoch ns; $seq BIGINT.
SELECT
    r.ts_event,
    r.underlying,
    CAST(r.bid_px AS DOUBLE) AS nbb,
    CAST(r.ask_px AS DOUBLE) AS nbo,
    r.session
FROM reference_quotes AS r
JOIN instruments AS i ON i.instrument_id = r.instrument_id
WHERE r.ingest_seq <= $seq
    AND r.ts_event >= make_timestamp_ns($ts_lo)
    AND r.ts_event <= make_timestamp_ns($ts_hi)
    AND (
        r.session IN ('closed', 'halted')
        OR list_contains(string_split(coalesce(i.ref_sessions, 'pre,regular,post'), ','), r.session)
    )
ORDER BY r.ts_event, r.ingest_seq;
