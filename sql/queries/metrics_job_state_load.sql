-- metrics_job_state_load: how far each metric of the metrics job got.
-- Grain: one row per metric that ran (job = 'metrics:' || name): watermark_ns is its
-- done_until (rows with an earlier time are final), seq the highest ingest_seq of the
-- inputs they were computed from. Saved with basis_job_state_save.sql.
-- Params: none.
SELECT substr(job, length('metrics:') + 1) AS metric, watermark_ns AS done_until, seq
FROM job_state
WHERE starts_with(job, 'metrics:')
ORDER BY metric;
