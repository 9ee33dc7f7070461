-- job_state: where each incremental job has got to, so a restart resumes exactly.
-- Grain: one row per job. watermark_ns: every input up to this venue time was complete
-- when the job ran; seq: the highest ingest_seq the job had seen.
CREATE TABLE job_state (
    job          VARCHAR PRIMARY KEY,
    watermark_ns BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    updated_at   TIMESTAMP_NS NOT NULL
);
