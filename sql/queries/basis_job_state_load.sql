-- basis_job_state_load: where an incremental job got to (no row: it never ran).
-- Grain: at most one row, for job $job.
-- Params: $job VARCHAR.
SELECT watermark_ns, seq
FROM job_state
WHERE job = $job;
