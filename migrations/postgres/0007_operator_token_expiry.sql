-- An operator token may expire (`operator add --ttl`): after expires_at (ms) it is refused with
-- 401. NULL: no expiry. `operator rotate` replaces token_hash in place, so the old token stops
-- working at once.
ALTER TABLE operators ADD COLUMN expires_at bigint;
