-- basis_job_state_save: record the watermark and ingest_seq an incremental job reached,
-- in the same transaction as the rows it wrote.
-- Grain: one row per job, inserted or replaced.
-- Params: $job VARCHAR; $watermark_ns, $seq BIGINT; $updated_at BIGINT epoch ns.
INSERT INTO job_state (job, watermark_ns, seq, updated_at)
VALUES ($job, $watermark_ns, $seq, make_timestamp_ns($updated_at))
ON CONFLICT (job) DO UPDATE SET
    watermark_ns = excluded.watermark_ns,
    seq = excluded.seq,
    updated_at = excluded.updated_at;
