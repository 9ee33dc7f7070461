-- book_state_seed: every known token book's full state (all levels, venue units) at the
-- instant as_of, where the depth job's next chunk resumes the replay of book_levels.
-- Grain: one row per (venue, instrument_id, side, price) level; every row has the same
-- as_of. Replaced whole by the depth job in the same transaction as its output rows and
-- its job_state row ('depth'), with the state at the end of the chunk (as_of = the
-- chunk's last nanosecond). A book with no row is unknown at as_of (never snapshotted,
-- or empty).
--   price, size   quote currency per token unit, token units (as book_levels, as DOUBLE)
--   level         1 = best price of that side
CREATE TABLE book_state_seed (
    venue         VARCHAR NOT NULL,
    instrument_id VARCHAR NOT NULL,
    side          VARCHAR NOT NULL,
    level         INTEGER NOT NULL,
    price         DOUBLE NOT NULL,
    size          DOUBLE NOT NULL,
    as_of         TIMESTAMP_NS NOT NULL
);
