-- schema_migrations: one row per applied migration file.
-- Grain: one row per file in sql/schema/ (except this bootstrap file, applied every start).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    applied_at TIMESTAMP_NS NOT NULL
);
