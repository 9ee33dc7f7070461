-- alert_engine_state_load: the instant of the engine's last persisted step, if any.
-- Grain: zero or one row (job 'alerts').
SELECT watermark_ns FROM job_state WHERE job = 'alerts';
