-- alert_engine_state_save: the instant of the engine's last persisted step (job 'alerts'),
-- in the same transaction as the step's alerts, groups and audit records.
-- Grain: one job_state row, inserted or replaced. Params: $watermark_ns BIGINT epoch ns
-- (the step's now); $updated_at BIGINT epoch ns.
INSERT INTO job_state (job, watermark_ns, seq, updated_at)
VALUES ('alerts', $watermark_ns, 0, make_timestamp_ns($updated_at))
ON CONFLICT (job) DO UPDATE SET
    watermark_ns = excluded.watermark_ns,
    updated_at = excluded.updated_at;
