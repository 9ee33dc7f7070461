-- depth_seed_clear: empty book_state_seed before the depth job writes the new seed (in
-- the same transaction).
-- Grain: every row of book_state_seed.
-- Params: none.
DELETE FROM book_state_seed;
