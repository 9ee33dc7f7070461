-- pool_states_effective: pool states that were not retracted by a chain reorg.
-- Grain: one row per pool update (as pool_states), minus removed = true rows and minus
-- every row whose (block_hash, log_index) has a removed = true row.
CREATE VIEW pool_states_effective AS
SELECT p.*
FROM pool_states AS p
WHERE NOT p.removed
    AND NOT EXISTS (
        SELECT 1
        FROM pool_states AS r
        WHERE r.removed
            AND r.block_hash = p.block_hash
            AND r.log_index = p.log_index
            AND r.venue = p.venue
    );
