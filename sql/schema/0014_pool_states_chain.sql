-- pool_states, on-chain columns: where a pool state came from on its chain.
-- Grain: unchanged, one row per pool update.
-- tick is the concentrated-liquidity tick after the swap. (block_hash, log_index) keys a
-- log; removed = true rows are reorg retractions of that log, and the view
-- pool_states_effective leaves out every retracted log.
ALTER TABLE pool_states ADD COLUMN tick BIGINT;
ALTER TABLE pool_states ADD COLUMN block_number BIGINT;
ALTER TABLE pool_states ADD COLUMN log_index BIGINT;
ALTER TABLE pool_states ADD COLUMN block_hash VARCHAR;
ALTER TABLE pool_states ADD COLUMN removed BOOLEAN NOT NULL DEFAULT false;
