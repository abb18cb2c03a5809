-- An operator token may expire (`operator add --ttl`): after expires_at (ms) it is refused with
-- 401. NULL: no expiry. `operator rotate` replaces token_hash in place, so the old token stops
-- working at once.
ALTER TABLE operators ADD COLUMN expires_at bigint;

-- `server delete`: a deleted server is gone for every read (get, list, authentication) while its
-- row keeps tokens_not_before, so its old tokens stay refused when an admin registers the id again.
ALTER TABLE servers ADD COLUMN deleted_at bigint;
