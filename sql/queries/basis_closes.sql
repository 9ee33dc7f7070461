-- basis_closes: each reference instrument's last quote of a regular session, the
-- "last official close" the basis uses while the market is closed.
-- Grain: one row per (regular session, instrument) with a quote in [open, close].
-- Params: $keys VARCHAR[] (reference instruments that serve the regular session);
-- $opens, $closes BIGINT[] epoch ns, the same length: the sessions' open and close.
WITH sessions AS (
    SELECT
        make_timestamp_ns(unnest($opens)) AS open_ts,
        make_timestamp_ns(unnest($closes)) AS close_ts
)
SELECT s.close_ts, q.instrument_id AS ref_instrument_id, q.ts_event,
    CAST(q.bid_px AS DOUBLE) AS bid, CAST(q.ask_px AS DOUBLE) AS ask
FROM sessions AS s
JOIN quotes AS q
    ON q.ts_event >= s.open_ts AND q.ts_event <= s.close_ts
WHERE list_contains($keys, q.instrument_id)
QUALIFY row_number() OVER (
    PARTITION BY s.close_ts, q.instrument_id ORDER BY q.ts_event DESC, q.ingest_seq DESC
) = 1
ORDER BY s.close_ts, q.instrument_id;
