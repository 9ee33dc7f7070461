-- basis_sessions: the session announcements an as-of join over token rows in
-- [$ts_lo, $ts_hi] can see.
-- Grain: one row per announcement: every one with ts_event in [$ts_lo, $ts_hi], plus per
-- underlying the latest in [$ts_from, $ts_lo). Ordered by (ts_event, ingest_seq).
-- Params: $keys VARCHAR[] (underlyings); $ts_from, $ts_lo, $ts_hi BIGINT epoch ns.
SELECT ts_event, underlying, session
FROM (
    SELECT ts_event, underlying, session, ingest_seq
    FROM session_states
    WHERE list_contains($keys, underlying)
        AND ts_event >= make_timestamp_ns($ts_lo)
        AND ts_event <= make_timestamp_ns($ts_hi)
    UNION ALL
    SELECT ts_event, underlying, session, ingest_seq
    FROM session_states
    WHERE list_contains($keys, underlying)
        AND ts_event >= make_timestamp_ns($ts_from)
        AND ts_event < make_timestamp_ns($ts_lo)
    QUALIFY row_number() OVER (
        PARTITION BY underlying ORDER BY ts_event DESC, ingest_seq DESC
    ) = 1
)
ORDER BY ts_event, ingest_seq;
