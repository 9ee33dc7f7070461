-- depth_seed_load: the book states the depth job saved at the end of its last chunk.
-- Grain: one row per book_state_seed level, ordered by (venue, instrument_id, side,
-- level); as_of BIGINT epoch ns (the same on every row).
-- Params: none.
SELECT venue, instrument_id, side, level, price, size, epoch_ns(as_of) AS as_of
FROM book_state_seed
ORDER BY venue, instrument_id, side, level;
