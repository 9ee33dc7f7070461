-- upsert_venue_clock: advance each venue's clock from a flushed batch.
-- Grain: one row per venue in the registered relation _clock(venue, ts_event_max,
-- ts_recv_max, ingest_seq); clocks never move backwards.
INSERT INTO venue_clock BY NAME SELECT * FROM _clock
ON CONFLICT (venue) DO UPDATE SET
    ts_event_max = greatest(venue_clock.ts_event_max, excluded.ts_event_max),
    ts_recv_max  = greatest(venue_clock.ts_recv_max, excluded.ts_recv_max),
    ingest_seq   = excluded.ingest_seq;
