-- basis_venue_clock: every venue's clock, from which the basis job takes its watermark.
-- Grain: one row per venue. Times as BIGINT epoch ns. ingest_seq is the last ingest_seq
-- of the latest flush that touched the venue, so max(ingest_seq) over all rows is the
-- highest ingest_seq committed with any event, read in the same snapshot as the clocks.
-- Params: none.
SELECT
    venue,
    epoch_ns(ts_event_max) AS ts_event_max,
    epoch_ns(ts_recv_max) AS ts_recv_max,
    ingest_seq
FROM venue_clock
ORDER BY venue;
