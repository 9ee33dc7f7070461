-- webhook_attempt_seq: numbers delivery attempts (the delivery log's page cursor).
-- Grain: one value per attempt.
CREATE SEQUENCE webhook_attempt_seq;
