-- alert_evidence_tables: the tables and views present in the database, so an evidence
-- bundle skips (and lists) inputs this installation does not have yet.
-- Grain: one row per table or view of the main schema.
SELECT table_name
FROM information_schema.tables
WHERE table_schema = 'main'
ORDER BY table_name;
