-- Tokens issued before this time (ms, floored to the second) are refused: set when a server is
-- disabled or its credentials are rotated, so a leaked token does not come back on re-enable.
ALTER TABLE servers ADD COLUMN tokens_not_before bigint;
